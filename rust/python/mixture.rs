//! Data-mixture inference counting (issue 6): the engine replaying a given merge list.
//! Bindings of [`crate::mixture`]: argument conversion, GIL release, errors -> exceptions.
//! Arrays cross the boundary as native-endian bytes (numpy's `frombuffer`/`tobytes`), never as
//! one Python object per pair.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rustc_hash::FxHashSet;

use super::{threads, to_py, PyTokenizer};
use crate::mixture::{self, Attack, EdgePool, Inner, PairIndex, SeparateConfig};

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMixtureAttack>()?;
    Ok(())
}

/// The recorded pair-count trajectories of every category under a tokenizer's merge list, the
/// LP rows handed out so far (so a row is never returned twice), and the matching edges found
/// by `evaluate` (kept across calls: nearby points need nearly the same edges).
#[pyclass(module = "bytepair._core", name = "MixtureAttack")]
pub struct PyMixtureAttack {
    attack: Attack,
    index: PairIndex,
    existing: FxHashSet<(u32, u32)>,
    pool: EdgePool,
    /// Threads of the separation passes (`num_threads` of the constructor).
    threads: usize,
}

fn f64s(b: &[u8], what: &str) -> PyResult<Vec<f64>> {
    if b.len() % 8 != 0 {
        return Err(PyValueError::new_err(format!("{what}: not float64 bytes")));
    }
    Ok(b.chunks_exact(8)
        .map(|c| f64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

fn u32s(b: &[u8], what: &str) -> PyResult<Vec<u32>> {
    if b.len() % 4 != 0 {
        return Err(PyValueError::new_err(format!("{what}: not uint32 bytes")));
    }
    Ok(b.chunks_exact(4)
        .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn to_bytes<'py, T: Copy, const N: usize>(
    py: Python<'py>,
    v: &[T],
    f: impl Fn(T) -> [u8; N],
) -> Bound<'py, PyBytes> {
    let mut out = Vec::with_capacity(v.len() * N);
    for &x in v {
        out.extend_from_slice(&f(x));
    }
    PyBytes::new(py, &out)
}

type CutArrays<'py> = (
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    f64,
);

#[pymethods]
impl PyMixtureAttack {
    /// Count every category's texts as the tokenizer does and replay its first `merges` merges
    /// on each (categories in parallel, GIL released). `num_threads` (default: all cores) also
    /// runs the separation passes of `separate` and `evaluate` unless they are given their own.
    #[new]
    #[pyo3(signature = (tokenizer, samples, merges, num_threads=None))]
    fn new(
        py: Python<'_>,
        tokenizer: PyRef<'_, PyTokenizer>,
        samples: Vec<Vec<String>>,
        merges: usize,
        num_threads: Option<usize>,
    ) -> PyResult<Self> {
        let tok = tokenizer.inner.clone();
        let n = threads(num_threads);
        py.detach(|| {
            let list = mixture::merge_list(&tok, merges)?;
            let attack = Attack::build(&tok, list, &samples, n)?;
            let index = PairIndex::new(&attack);
            Ok(Self {
                attack,
                index,
                existing: FxHashSet::default(),
                pool: EdgePool::default(),
                threads: n,
            })
        })
        .map_err(to_py)
    }

    /// Number of merges replayed.
    #[getter]
    fn steps(&self) -> usize {
        self.attack.steps()
    }

    /// Distinct pairs seen over all categories and steps.
    #[getter]
    fn num_pairs(&self) -> usize {
        self.attack.global_pairs.len()
    }

    /// Recorded pair-count changes over all categories.
    #[getter]
    fn num_changes(&self) -> usize {
        self.attack.num_changes()
    }

    /// Bytes of each category's (normalized) sample.
    fn sample_bytes(&self) -> Vec<u64> {
        self.attack.categories.iter().map(|c| c.bytes).collect()
    }

    /// Per category, how many merges had count 0 in its sample when their turn came.
    fn absent(&self) -> Vec<usize> {
        self.attack.categories.iter().map(|c| c.absent()).collect()
    }

    /// Steps whose merge occurs in no sample (they get no constraint).
    fn missing_steps(&self) -> Vec<usize> {
        (0..self.attack.steps())
            .filter(|&t| self.attack.merge_global[t].is_none())
            .collect()
    }

    /// Per category, the count of each step's merge just before it (uint32 bytes, `steps`).
    fn merge_counts<'py>(&self, py: Python<'py>, category: usize) -> PyResult<Bound<'py, PyBytes>> {
        let c = self
            .attack
            .categories
            .get(category)
            .ok_or_else(|| PyValueError::new_err(format!("no category {category}")))?;
        Ok(to_bytes(py, &c.merge_count, u32::to_ne_bytes))
    }

    /// The token bytes `(left, right)` of global pair `pair`.
    fn pair_bytes<'py>(
        &self,
        py: Python<'py>,
        tokenizer: PyRef<'_, PyTokenizer>,
        pair: usize,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let &(a, b) = self
            .attack
            .global_pairs
            .get(pair)
            .ok_or_else(|| PyValueError::new_err(format!("no pair {pair}")))?;
        let v = tokenizer.inner.vocab();
        let t = |id: u32| match v.token(id) {
            Some(x) => x.to_vec(),
            None => vec![(id.wrapping_sub(u32::MAX - 255)) as u8],
        };
        Ok((PyBytes::new(py, &t(a)), PyBytes::new(py, &t(b))))
    }

    /// Forget rows (uint32 bytes of steps and pairs) that the caller dropped from its LP, so a
    /// later pass may return them again.
    fn forget(&mut self, steps: &[u8], pairs: &[u8]) -> PyResult<()> {
        let s = u32s(steps, "steps")?;
        let p = u32s(pairs, "pairs")?;
        if s.len() != p.len() {
            return Err(PyValueError::new_err("steps and pairs differ in length"));
        }
        for key in s.into_iter().zip(p) {
            self.existing.remove(&key);
        }
        Ok(())
    }

    /// Rows handed out and not forgotten.
    #[getter]
    fn num_rows(&self) -> usize {
        self.existing.len()
    }

    /// One separation pass (see `crate::mixture::separate`). `weights[i]` = scaled a_i / d_i;
    /// `v_step` float64 bytes (`steps`); `vp_ids` uint32 bytes and `vp_values` float64 bytes:
    /// the pair slacks that exist. Returns the new rows as bytes: steps (uint32), pairs
    /// (uint32), violations (float64), and count differences (float64, rows x categories,
    /// row-major), and the excess (the sum over steps of each step's largest violation, an
    /// upper bound on how far the point is from feasible for the full LP); the rows are
    /// remembered and never returned again. `horizon`: search only
    /// the first `horizon` steps (default all). `num_threads`: threads of the pass (default:
    /// the constructor's); the result does not depend on it.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (weights, v_step, vp_ids, vp_values, tol, per_step, max_rows, horizon=None, num_threads=None))]
    fn separate<'py>(
        &mut self,
        py: Python<'py>,
        weights: Vec<f64>,
        v_step: &[u8],
        vp_ids: &[u8],
        vp_values: &[u8],
        tol: f64,
        per_step: usize,
        max_rows: usize,
        horizon: Option<usize>,
        num_threads: Option<usize>,
    ) -> PyResult<CutArrays<'py>> {
        let n = self.attack.categories.len();
        if weights.len() != n {
            return Err(PyValueError::new_err(format!(
                "weights: {} values for {n} categories",
                weights.len()
            )));
        }
        let v_step = f64s(v_step, "v_step")?;
        if v_step.len() != self.attack.steps() {
            return Err(PyValueError::new_err(format!(
                "v_step: {} values for {} steps",
                v_step.len(),
                self.attack.steps()
            )));
        }
        let ids = u32s(vp_ids, "vp_ids")?;
        let vals = f64s(vp_values, "vp_values")?;
        if ids.len() != vals.len() {
            return Err(PyValueError::new_err(
                "vp_ids and vp_values differ in length",
            ));
        }
        if !(tol >= 0.0 && tol.is_finite()) || weights.iter().any(|w| !w.is_finite()) {
            return Err(PyValueError::new_err(
                "tol and weights must be finite, tol >= 0",
            ));
        }
        let vp: Vec<(u32, f64)> = ids.into_iter().zip(vals).collect();
        let cfg = SeparateConfig {
            per_step: per_step.max(1),
            tol,
            max_rows: max_rows.max(1),
            horizon: horizon.unwrap_or(usize::MAX),
            per_pair: usize::MAX,
            threads: num_threads.filter(|&n| n > 0).unwrap_or(self.threads),
        };
        let Self {
            attack,
            index,
            existing,
            ..
        } = self;
        let (cuts, excess) = py.detach(|| {
            let out = mixture::separate(attack, index, &weights, &v_step, &vp, existing, cfg);
            existing.extend(out.0.iter().map(|c| (c.step, c.pair)));
            out
        });
        let steps: Vec<u32> = cuts.iter().map(|c| c.step).collect();
        let pairs: Vec<u32> = cuts.iter().map(|c| c.pair).collect();
        let viol: Vec<f64> = cuts.iter().map(|c| c.violation).collect();
        let diff: Vec<f64> = cuts.iter().flat_map(|c| c.diff.iter().copied()).collect();
        Ok((
            to_bytes(py, &steps, u32::to_ne_bytes),
            to_bytes(py, &pairs, u32::to_ne_bytes),
            to_bytes(py, &viol, f64::to_ne_bytes),
            to_bytes(py, &diff, f64::to_ne_bytes),
            excess,
        ))
    }

    /// The LP's value in the slacks at fixed proportions, exactly (see
    /// `crate::mixture::evaluate`): `weights[i]` = scaled a_i / d_i. Returns
    /// `(lower, upper, grad, matched, rounds, added, pair_slacks, seconds_separate,
    /// seconds_match)`: the
    /// maximum matching's weight, the cover's value plus the remaining excess (an upper bound),
    /// the matching's count differences per category (`lower = grad . weights`, and
    /// `grad . w' <=` the value at any other w'), its size, the oracle rounds, the edges added
    /// to the pool, the pairs with a positive slack in the cover, and the time of each part.
    ///
    /// With `eps` (> 0) the pool's matching is solved by the auction with epsilon-scaling
    /// (`crate::mixture::auction`) from `eps0` (default `eps`) down to `eps`, warm from the
    /// last prices, and oracle rounds stop once the excess is at most `stop` (default 0) or
    /// after `rounds` rounds; the bounds then bracket the value within `rows x eps + stop`
    /// (when stopped by `stop`), and are valid bounds and a valid cut in any case. `per_pair`:
    /// at most this many new edges per pair and oracle round (default no cap). The last item is the number
    /// of auction bids. `num_threads`: threads of the separation passes (default: the
    /// constructor's); the result does not depend on it.
    #[allow(clippy::type_complexity, clippy::too_many_arguments)]
    #[pyo3(signature = (weights, per_step, tol, eps=None, eps0=None, stop=None, rounds=None, per_pair=None, num_threads=None))]
    fn evaluate(
        &mut self,
        py: Python<'_>,
        weights: Vec<f64>,
        per_step: usize,
        tol: f64,
        eps: Option<f64>,
        eps0: Option<f64>,
        stop: Option<f64>,
        rounds: Option<usize>,
        per_pair: Option<usize>,
        num_threads: Option<usize>,
    ) -> PyResult<(
        f64,
        f64,
        Vec<f64>,
        usize,
        usize,
        usize,
        usize,
        f64,
        f64,
        u64,
    )> {
        let n = self.attack.categories.len();
        if weights.len() != n {
            return Err(PyValueError::new_err(format!(
                "weights: {} values for {n} categories",
                weights.len()
            )));
        }
        if !(tol >= 0.0 && tol.is_finite()) || weights.iter().any(|w| !(w.is_finite() && *w >= 0.0))
        {
            return Err(PyValueError::new_err(
                "tol and weights must be finite and >= 0",
            ));
        }
        let positive = |x: Option<f64>| x.is_none_or(|v| v.is_finite() && v > 0.0);
        if !positive(eps) || !positive(eps0) || !stop.is_none_or(|v| v.is_finite() && v >= 0.0) {
            return Err(PyValueError::new_err(
                "eps and eps0 must be finite and > 0, stop finite and >= 0",
            ));
        }
        let inner = match eps {
            None => Inner::Hungarian,
            Some(eps) => Inner::Auction {
                eps,
                eps0: eps0.unwrap_or(eps),
                stop: stop.unwrap_or(0.0),
                rounds: rounds.unwrap_or(usize::MAX).max(1),
                per_pair: per_pair.unwrap_or(usize::MAX),
            },
        };
        let threads = num_threads.filter(|&n| n > 0).unwrap_or(self.threads);
        let Self {
            attack,
            index,
            pool,
            ..
        } = self;
        let e = py.detach(|| {
            mixture::evaluate(
                attack, &*index, pool, &weights, per_step, tol, inner, threads,
            )
        });
        Ok((
            e.lower,
            e.upper,
            e.grad,
            e.matched,
            e.rounds,
            e.added,
            e.v_pair.len(),
            e.seconds_separate,
            e.seconds_match,
            e.bids,
        ))
    }

    /// Edges in the matching pool.
    #[getter]
    fn num_edges(&self) -> usize {
        self.pool.len()
    }
}
