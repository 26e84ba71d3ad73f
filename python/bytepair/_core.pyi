"""Type stubs for the native module ``bytepair._core`` (rust/python/mod.rs)."""

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
        texts: list[str],
        allowed: list[str] = ...,
        disallowed: list[str] = ...,
        num_threads: Optional[int] = ...,
    ) -> list[list[int]]: ...
    def encode_batch_flat(
        self,
        texts: list[str],
        allowed: list[str] = ...,
        disallowed: list[str] = ...,
        num_threads: Optional[int] = ...,
    ) -> tuple[bytes, bytes]: ...
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
