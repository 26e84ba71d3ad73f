"""Type stubs for the native module ``bytepair._core`` (rust/python/mod.rs)."""

from collections.abc import Sequence
from typing import Any, Optional

__version__: str

class Tokenizer:
    def encode_ordinary(self, text: str) -> list[int]: ...
    def encode(
        self,
        text: str,
        allowed: list[str] = ...,
        disallowed: list[str] = ...,
        num_threads: Optional[int] = ...,
    ) -> list[int]: ...
    def count_tokens(
        self, text: str, allowed: list[str] = ..., disallowed: list[str] = ...
    ) -> int: ...
    def encode_batch(
        self,
        texts: Sequence[str],
        allowed: list[str] = ...,
        disallowed: list[str] = ...,
        num_threads: Optional[int] = ...,
    ) -> list[list[int]]: ...
    def encode_batch_flat(
        self,
        texts: Sequence[str],
        allowed: list[str] = ...,
        disallowed: list[str] = ...,
        num_threads: Optional[int] = ...,
    ) -> tuple[bytearray, bytearray]: ...
    def decode_bytes_batch(self, batch: list[list[int]]) -> list[bytes]: ...
    def find_special(self, text: str, among: Optional[list[str]] = ...) -> Optional[str]: ...
    def decode_bytes(self, ids: list[int]) -> bytes: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def num_regular_tokens(self) -> int: ...
    @property
    def pattern(self) -> Optional[str]: ...
    @property
    def pretokenizer(self) -> str: ...
    def merges(self) -> list[tuple[bytes, bytes]]: ...
    def merge_ids(self) -> list[tuple[int, int, int]]: ...
    def special_tokens(self) -> dict[str, int]: ...
    def get_vocab(self) -> dict[bytes, int]: ...
    def token_to_id(self, token: bytes) -> Optional[int]: ...
    def id_to_token(self, id: int) -> bytes: ...
    def train_stats(self) -> Optional[dict[str, Any]]: ...
    def to_json(self) -> str: ...
    def merge_rule(self) -> str: ...
    def to_tiktoken(self) -> str: ...
    def save(self, path: str) -> None: ...
    def save_tiktoken(self, path: str) -> None: ...
    @staticmethod
    def from_json(
        text: str, origin: str = ..., merge_rule: Optional[str] = ...
    ) -> Tokenizer: ...
    @staticmethod
    def from_file(path: str) -> Tokenizer: ...
    @staticmethod
    def load(
        path: str,
        pattern: Optional[str] = ...,
        special_tokens: Optional[list[tuple[str, Optional[int]]]] = ...,
        default_specials: bool = ...,
        merges: Optional[str] = ...,
    ) -> Tokenizer: ...
    @staticmethod
    def from_tiktoken(
        path: str,
        pattern: str,
        special_tokens: list[tuple[str, int]] = ...,
        default_specials: bool = ...,
    ) -> Tokenizer: ...

def train_files(
    paths: list[str],
    vocab_size: int,
    pattern: str,
    special_tokens: list[str],
    min_frequency: int,
    max_token_length: Optional[int],
    num_threads: Optional[int],
    progress: Optional[bool],
    errors: str,
) -> Tokenizer: ...
def train_iter(
    texts: Any,
    vocab_size: int,
    pattern: str,
    special_tokens: list[str],
    min_frequency: int,
    max_token_length: Optional[int],
    num_threads: Optional[int],
    progress: Optional[bool],
) -> Tokenizer: ...
def pretokenize(pattern: str, text: str) -> list[str]: ...
def dynamic_merge(
    ids: bytes,
    offsets: bytes,
    cuts: Optional[bytes],
    vocab_size: int,
    max_merges: Optional[int],
    target_reduction: Optional[float],
    min_count: int,
    tokenizer: Optional[Tokenizer] = ...,
) -> dict[str, Any]: ...
def encode_batch_dynamic(
    tokenizer: Tokenizer,
    texts: list[str],
    allowed: list[str],
    disallowed: list[str],
    boundary: str,
    max_merges: Optional[int],
    target_reduction: Optional[float],
    min_count: int,
    num_threads: Optional[int] = ...,
) -> dict[str, Any]: ...

# ---- corpus (rust/python/corpus.rs) ----------------------------------------------------------

def encode_documents_packed(
    tokenizer: Tokenizer,
    texts: list[str],
    eot: Optional[int],
    itemsize: int,
    allowed: list[str] = ...,
    disallowed: list[str] = ...,
    num_threads: Optional[int] = ...,
) -> tuple[bytes, bytes, int]: ...

class PretokenCounts:
    """Pretoken counts with the pattern and special tokens they were made with; merge
    associatively; save to / load from a versioned file."""

    def __init__(self, pattern: str = ..., special_tokens: list[str] = ...) -> None: ...
    def add_files(
        self,
        paths: list[str],
        num_threads: Optional[int] = ...,
        errors: str = ...,
        progress: Optional[bool] = ...,
    ) -> None: ...
    def add_texts(self, texts: list[str], num_threads: Optional[int] = ...) -> None: ...
    def merge(self, other: PretokenCounts) -> None: ...
    def save(self, path: str) -> None: ...
    @staticmethod
    def load(path: str) -> PretokenCounts: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> PretokenCounts: ...
    @property
    def pattern(self) -> str: ...
    @property
    def normalizer(self) -> Optional[str]: ...
    @property
    def special_tokens(self) -> list[str]: ...
    @property
    def text_bytes(self) -> int: ...
    @property
    def total(self) -> int: ...
    def __len__(self) -> int: ...
    def to_dict(self) -> dict[str, int]: ...
    def items(self) -> list[tuple[str, int]]: ...
    def __eq__(self, other: object) -> bool: ...
    def __reduce__(self) -> tuple[Any, tuple[bytes]]: ...

def train_counts(
    counts: PretokenCounts,
    vocab_size: int,
    special_tokens: list[str],
    min_frequency: int,
    max_token_length: Optional[int],
    progress: Optional[bool],
) -> Tokenizer: ...

def encode_text_packed(
    tokenizer: Tokenizer,
    data: bytes,
    doc_sep: str,
    eot: Optional[int],
    itemsize: int,
    errors: str,
    origin: str,
    offset: int,
    num_threads: Optional[int] = ...,
) -> tuple[bytes, bytes, int]: ...

def tokenizer_identity(tokenizer: Tokenizer) -> bytes: ...
def encodes_in_pieces(tokenizer: Tokenizer) -> bool: ...
def train_superbpe_files(
    paths: list[str], options: dict[str, Any], errors: str
) -> tuple[Tokenizer, dict[str, Any]]: ...
def train_superbpe_iter(
    texts: Any, options: dict[str, Any]
) -> tuple[Tokenizer, dict[str, Any]]: ...

# ---- data-mixture inference (rust/python/mixture.rs) ------------------------------------
class MixtureAttack:
    def __new__(
        cls,
        tokenizer: Tokenizer,
        samples: list[list[str]],
        merges: int,
        num_threads: Optional[int] = ...,
    ) -> MixtureAttack: ...
    @property
    def steps(self) -> int: ...
    @property
    def num_pairs(self) -> int: ...
    @property
    def num_changes(self) -> int: ...
    @property
    def num_rows(self) -> int: ...
    def forget(self, steps: bytes, pairs: bytes) -> None: ...
    def sample_bytes(self) -> list[int]: ...
    def absent(self) -> list[int]: ...
    def missing_steps(self) -> list[int]: ...
    def merge_counts(self, category: int) -> bytes: ...
    def pair_bytes(self, tokenizer: Tokenizer, pair: int) -> tuple[bytes, bytes]: ...
    def separate(
        self,
        weights: list[float],
        v_step: bytes,
        vp_ids: bytes,
        vp_values: bytes,
        tol: float,
        per_step: int,
        max_rows: int,
        horizon: Optional[int] = ...,
        num_threads: Optional[int] = ...,
    ) -> tuple[bytes, bytes, bytes, bytes, float]: ...
    def evaluate(
        self,
        weights: list[float],
        per_step: int,
        tol: float,
        eps: Optional[float] = ...,
        eps0: Optional[float] = ...,
        stop: Optional[float] = ...,
        rounds: Optional[int] = ...,
        per_pair: Optional[int] = ...,
        num_threads: Optional[int] = ...,
    ) -> tuple[float, float, list[float], int, int, int, int, float, float, int]: ...
    @property
    def num_edges(self) -> int: ...
