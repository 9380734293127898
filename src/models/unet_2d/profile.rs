//! An opt-in per-operation timer for the U-Net's forward pass (`difflab bench` reports the
//! breakdown). Off by default: then each span costs one relaxed atomic load.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

static ENABLED: AtomicBool = AtomicBool::new(false);
static TOTALS: Mutex<BTreeMap<&'static str, (f64, usize)>> = Mutex::new(BTreeMap::new());

/// Start (or stop) collecting times; starting clears earlier totals.
pub fn enable(on: bool) {
    if on {
        TOTALS.lock().expect("profile lock").clear();
    }
    ENABLED.store(on, Ordering::Relaxed);
}

/// Collected `(operation, total seconds, calls)`, largest first.
pub fn totals() -> Vec<(&'static str, f64, usize)> {
    let mut v: Vec<_> = TOTALS
        .lock()
        .expect("profile lock")
        .iter()
        .map(|(k, (s, c))| (*k, *s, *c))
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v
}

/// A running timer; adds its elapsed time to `name` when dropped.
pub struct Span {
    name: &'static str,
    start: Instant,
}

/// Time the rest of the enclosing scope as `name` (nothing when profiling is off).
#[inline]
pub fn span(name: &'static str) -> Option<Span> {
    ENABLED.load(Ordering::Relaxed).then(|| Span {
        name,
        start: Instant::now(),
    })
}

impl Drop for Span {
    fn drop(&mut self) {
        let dt = self.start.elapsed().as_secs_f64();
        let mut t = TOTALS.lock().expect("profile lock");
        let e = t.entry(self.name).or_insert((0.0, 0));
        e.0 += dt;
        e.1 += 1;
    }
}
