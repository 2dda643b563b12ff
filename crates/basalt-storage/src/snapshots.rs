//! The set of snapshots in use, so garbage collection keeps every version one of them can see.

use std::collections::BTreeMap;
use std::sync::Arc;

use basalt_common::ReadTs;
use parking_lot::Mutex;

#[derive(Default)]
pub struct Snapshots {
    /// read_ts -> number of transactions reading at it.
    active: Mutex<BTreeMap<u64, usize>>,
}

impl Snapshots {
    pub fn register(self: &Arc<Self>, read: ReadTs) -> SnapshotGuard {
        *self.active.lock().entry(read.0).or_insert(0) += 1;
        SnapshotGuard {
            registry: Arc::clone(self),
            read,
        }
    }

    /// Takes the newest snapshot (`now()`) and registers it in one step, so that garbage
    /// collection (which reads `now()` under the same lock in [`Snapshots::oldest`]) can
    /// never compute an oldest snapshot newer than one about to be used.
    pub fn register_current(self: &Arc<Self>, now: impl FnOnce() -> ReadTs) -> SnapshotGuard {
        let mut active = self.active.lock();
        let read = now();
        *active.entry(read.0).or_insert(0) += 1;
        SnapshotGuard {
            registry: Arc::clone(self),
            read,
        }
    }

    /// The oldest snapshot in use, or `now()` when none is.
    pub fn oldest(&self, now: impl FnOnce() -> ReadTs) -> ReadTs {
        let active = self.active.lock();
        let now = now();
        active
            .keys()
            .next()
            .map_or(now, |&ts| ReadTs(ts.min(now.0)))
    }
}

/// Keeps a snapshot registered while a transaction lives.
pub struct SnapshotGuard {
    registry: Arc<Snapshots>,
    read: ReadTs,
}

impl SnapshotGuard {
    pub fn read_ts(&self) -> ReadTs {
        self.read
    }

    /// A second registration of the same snapshot.
    pub fn again(&self) -> SnapshotGuard {
        self.registry.register(self.read)
    }
}

impl Drop for SnapshotGuard {
    fn drop(&mut self) {
        let mut active = self.registry.active.lock();
        if let Some(n) = active.get_mut(&self.read.0) {
            *n -= 1;
            if *n == 0 {
                active.remove(&self.read.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_tracks_live_guards() {
        let s = Arc::new(Snapshots::default());
        assert_eq!(s.oldest(|| ReadTs(9)), ReadTs(9));
        let a = s.register(ReadTs(3));
        let b = s.register_current(|| ReadTs(5));
        assert_eq!(s.oldest(|| ReadTs(9)), ReadTs(3));
        drop(a);
        assert_eq!(s.oldest(|| ReadTs(9)), ReadTs(5));
        drop(b);
        assert_eq!(s.oldest(|| ReadTs(9)), ReadTs(9));
    }
}
