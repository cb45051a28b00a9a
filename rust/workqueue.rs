// SPDX-License-Identifier: GPL-2.0

//! A workqueue owned by a module, so that unloading can wait for its work.

use super::bindings;
use core::ops::Deref;
use core::ptr::NonNull;
use kernel::{prelude::*, workqueue::Queue};

/// A workqueue allocated by this module and destroyed (after draining all
/// its work) when dropped.
///
/// # Examples
///
/// ```ignore
/// let wq = OwnedQueue::new_unbound(c_str!("my_wq"))?;
/// // `OwnedQueue` derefs to the kernel crate's `Queue`.
/// wq.enqueue(work_item);
/// wq.flush(); // `work_item` has run.
/// drop(wq); // Waits for anything queued meanwhile.
/// ```
///
/// # Invariants
///
/// `wq` came from `alloc_workqueue` and is destroyed only in `drop`.
pub struct OwnedQueue {
    wq: NonNull<bindings::workqueue_struct>,
}

// SAFETY: Workqueues may be used and destroyed from any thread.
unsafe impl Send for OwnedQueue {}
// SAFETY: Queueing work is thread-safe.
unsafe impl Sync for OwnedQueue {}

impl OwnedQueue {
    /// An unbound queue whose work items may run concurrently.
    pub fn new_unbound(name: &CStr) -> Result<Self> {
        // SAFETY: `name` is a valid string; the "%s" format copies it.
        let wq = unsafe { bindings::rpmsg_rs_alloc_unbound_workqueue(name.as_char_ptr()) };
        Ok(Self {
            wq: NonNull::new(wq).ok_or(ENOMEM)?,
        })
    }

    /// Waits until every work item queued so far has finished.
    pub fn flush(&self) {
        // SAFETY: `wq` is live by the type invariant.
        unsafe { bindings::__flush_workqueue(self.wq.as_ptr()) };
    }
}

impl Deref for OwnedQueue {
    type Target = Queue;

    fn deref(&self) -> &Queue {
        // SAFETY: `wq` stays valid until `self` is dropped, which outlives
        // the returned reference.
        unsafe { Queue::from_raw(self.wq.as_ptr()) }
    }
}

impl Drop for OwnedQueue {
    fn drop(&mut self) {
        // SAFETY: `wq` is live and destroyed only here; `destroy_workqueue`
        // drains it first.
        unsafe { bindings::destroy_workqueue(self.wq.as_ptr()) };
    }
}
