//! Where analytical queries run: a second async runtime whose worker threads have a lower
//! CPU priority than the transactional sessions'.
//!
//! A query whose plan reads the column engine is executed on this runtime (DataFusion's
//! partitions and repartitioning tasks spawn onto the runtime that runs the plan), so when
//! transactions and analytics compete for the same cores the scheduler gives the
//! transactions their share first (ARCHITECTURE "Router": analytics must not slow OLTP).
//! Short transactional statements never come here. The priority is a nice value
//! (`--analytics-nice`, default 10; 0 gives analytics equal weight; 19 also puts the threads
//! in the SCHED_IDLE class, so they run only on CPU time transactions leave unused).

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::{collect, ExecutionPlan};
use tokio::runtime::Runtime;

/// Nice value of the analytical threads; set once at start-up, before the first query.
static NICE: AtomicI32 = AtomicI32::new(10);

pub fn set_nice(nice: i32) {
    NICE.store(nice.clamp(0, 19), Ordering::Relaxed);
}

fn runtime() -> Option<&'static Runtime> {
    static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let nice = NICE.load(Ordering::Relaxed);
            let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("basalt-analytics")
                .on_thread_start(move || lower_thread_priority(nice))
                .enable_all()
                .build()
                .map_err(|e| {
                    tracing::warn!("no analytics runtime, analytics share the main one: {e}")
                })
                .ok()
        })
        .as_ref()
}

/// Gives the calling thread the nice value `nice` (Linux: nice is per thread).
fn lower_thread_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    // SAFETY: gettid and setpriority take plain integers and touch no memory of ours;
    // sched_setscheduler reads the parameter struct only during the call.
    let rc = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let rc = libc::setpriority(libc::PRIO_PROCESS, tid, nice);
        if rc == 0 && nice >= 19 {
            // 19: only CPU time nobody else wants (SCHED_IDLE).
            let param = libc::sched_param { sched_priority: 0 };
            libc::sched_setscheduler(tid as libc::pid_t, libc::SCHED_IDLE, &param)
        } else {
            rc
        }
    };
    if rc != 0 {
        tracing::warn!(
            "cannot lower the analytics thread's priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Whether a plan reads the column engine: then it is analytical.
pub fn reads_columns(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let mut found = false;
    let _ = plan.apply(|node| {
        found = crate::colscan::as_column_scan(node.as_ref()).is_some();
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

/// Runs a plan to completion: on the analytics runtime when it reads the column engine,
/// else here. Dropping the returned future (the client went away) cancels the query.
pub async fn collect_plan(
    plan: Arc<dyn ExecutionPlan>,
    ctx: Arc<TaskContext>,
) -> DfResult<Vec<RecordBatch>> {
    let Some(rt) = runtime().filter(|_| reads_columns(&plan)) else {
        return collect(plan, ctx).await;
    };
    let mut task = AbortOnDrop(rt.spawn(collect(plan, ctx)));
    match (&mut task.0).await {
        Ok(result) => result,
        Err(e) => Err(DataFusionError::Execution(format!(
            "analytical query task failed: {e}"
        ))),
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
