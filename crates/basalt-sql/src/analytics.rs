//! Where analytical queries run: a second async runtime whose worker threads have a lower
//! CPU priority than the transactional sessions', and a CPU quota while transactions run.
//!
//! A query whose plan reads the column engine is executed on this runtime (DataFusion's
//! partitions and repartitioning tasks spawn onto the runtime that runs the plan), so when
//! transactions and analytics compete for the same cores the transactions come first
//! (ARCHITECTURE "Router": analytics must not slow OLTP). Short transactional statements
//! never come here.
//!
//! Two controls, both measured by `bench/htap.sh` (docs/performance.md):
//! - the priority: a nice value (`--analytics-nice`, default 19, which also puts the threads
//!   in the SCHED_IDLE class, so they run only on CPU time transactions leave unused; 0 gives
//!   analytics equal weight);
//! - the quota (`--analytics-cpu`, percent of the machine's CPU time, default 10): while
//!   transactional statements are running (one finished in the last [`BUSY_WINDOW_MS`]),
//!   each analytics thread sleeps between column-scan batches as soon as it has used more
//!   than its share of the elapsed time. A priority alone is not enough: on the 2-core
//!   machines measured, analytics that only fill the CPU time transactions leave idle (even
//!   a SCHED_IDLE busy loop) still cut sysbench's throughput by a quarter, because the
//!   transactions' threads wake up on cores that are no longer idle. On a machine with no
//!   transactional work analytics run at full speed.

use std::cell::Cell;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use std::future::Future;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::{collect_partitioned, ExecutionPlan};
use tokio::runtime::Runtime;

/// Nice value of the analytical threads; set once at start-up, before the first query.
static NICE: AtomicI32 = AtomicI32::new(19);
/// Percent of the machine's CPU time analytics may use while transactions run (100: no quota).
static CPU_PERCENT: AtomicU64 = AtomicU64::new(10);
/// When a transactional statement last finished, in ms since [`epoch`] (0: never), and in
/// which session; and when two sessions last ran them within [`BUSY_WINDOW_MS`] of each
/// other.
static LAST_TRANSACTIONAL_MS: AtomicU64 = AtomicU64::new(0);
static LAST_TRANSACTIONAL_SESSION: AtomicUsize = AtomicUsize::new(0);
static SESSION_SWITCH_MS: AtomicU64 = AtomicU64::new(0);
/// How many times analytics threads paused for the quota (`SHOW basalt.analytics_pauses`).
pub static PAUSES: AtomicU64 = AtomicU64::new(0);
/// Transactions count as running for this long after a transactional statement finished.
pub const BUSY_WINDOW_MS: u64 = 200;
/// The longest single pause of an analytics thread, so a query notices soon when the
/// transactions stop.
const MAX_PAUSE: Duration = Duration::from_millis(50);

thread_local! {
    /// Set on the analytics runtime's threads: only they are ever paused.
    static ANALYTICS_THREAD: Cell<bool> = const { Cell::new(false) };
    /// This thread's accounting window: its start and the thread's CPU time then.
    static WINDOW: Cell<Option<(Instant, Duration)>> = const { Cell::new(None) };
}

pub fn set_nice(nice: i32) {
    NICE.store(nice.clamp(0, 19), Ordering::Relaxed);
}

/// Sets the quota: percent (1-100) of the machine's CPU time analytics may use while
/// transactions run.
pub fn set_cpu_percent(percent: u64) {
    CPU_PERCENT.store(percent.clamp(1, 100), Ordering::Relaxed);
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    // +1: 0 means "never".
    epoch().elapsed().as_millis() as u64 + 1
}

/// Records that session `session` ran a transactional statement (one that did not read the
/// column engine).
pub fn note_transactional(session: usize) {
    // Every transactional statement comes here: write the shared values only when they
    // change, so that sessions mostly just read them.
    let now = now_ms();
    let before = LAST_TRANSACTIONAL_MS.load(Ordering::Relaxed);
    if before != now {
        LAST_TRANSACTIONAL_MS.store(now, Ordering::Relaxed);
    }
    if LAST_TRANSACTIONAL_SESSION.load(Ordering::Relaxed) != session {
        LAST_TRANSACTIONAL_SESSION.store(session, Ordering::Relaxed);
        let recent = before != 0 && now.saturating_sub(before) <= BUSY_WINDOW_MS;
        if recent && SESSION_SWITCH_MS.load(Ordering::Relaxed) != now {
            SESSION_SWITCH_MS.store(now, Ordering::Relaxed);
        }
    }
}

/// Whether sessions other than `session` are running transactional statements now. (A
/// session's own statements never slow its analytics: it does not run both at once.)
pub fn others_transacting(session: usize) -> bool {
    let now = now_ms();
    let recent = |at: &AtomicU64| {
        let t = at.load(Ordering::Relaxed);
        t != 0 && now.saturating_sub(t) <= BUSY_WINDOW_MS
    };
    // Statements from two sessions in turn: at least one of them is not `session`.
    recent(&SESSION_SWITCH_MS)
        || (recent(&LAST_TRANSACTIONAL_MS)
            && LAST_TRANSACTIONAL_SESSION.load(Ordering::Relaxed) != session)
}

/// CPU time the calling thread has used.
fn thread_cpu_time() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only the timespec we pass, during the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// How long a thread that used `used` CPU time in `elapsed` wall time must pause to be back
/// within `share` (a fraction of one thread's time).
fn pause_for(used: Duration, elapsed: Duration, share: f64) -> Duration {
    let due = used.as_secs_f64() / share - elapsed.as_secs_f64();
    if due <= 0.0 {
        Duration::ZERO
    } else {
        Duration::from_secs_f64(due).min(MAX_PAUSE)
    }
}

/// Called by column scans of session `session` between batches: on an analytics thread,
/// while other sessions run transactions, pauses the thread once it has used more than its
/// share of CPU time.
pub fn yield_to_transactions(session: usize) {
    if !ANALYTICS_THREAD.get() {
        return;
    }
    let percent = CPU_PERCENT.load(Ordering::Relaxed);
    if percent >= 100 || !others_transacting(session) {
        WINDOW.set(None);
        return;
    }
    let Some(cpu) = thread_cpu_time() else {
        return;
    };
    let now = Instant::now();
    let Some((start, start_cpu)) = WINDOW.get() else {
        WINDOW.set(Some((now, cpu)));
        return;
    };
    // The runtime has one thread per core, so each thread's share of its own time is the
    // machine-wide percentage.
    let pause = pause_for(
        cpu.saturating_sub(start_cpu),
        now - start,
        percent as f64 / 100.0,
    );
    if !pause.is_zero() {
        PAUSES.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(pause);
    }
    if now - start > Duration::from_secs(1) {
        // A fresh window each second: a burst long ago is neither owed nor saved up.
        WINDOW.set(Some((Instant::now(), cpu)));
    }
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
                .thread_stack_size(16 << 20)
                .on_thread_start(move || {
                    ANALYTICS_THREAD.set(true);
                    lower_thread_priority(nice)
                })
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

/// Optimizes, plans and runs a logical plan; returns its schema, its batches and whether it
/// read the column engine. `plan_on_analytics` (the session's previous query read the column
/// engine) does the optimizing and physical planning on the analytics runtime too, where
/// they count against the priority and the quota (planning an aggregate takes about as
/// much CPU time as running it on sysbench-sized tables); otherwise only a plan that reads
/// the column engine is sent there to run. Dropping the returned future (the client went
/// away) cancels the query.
pub async fn run_logical(
    ctx: SessionContext,
    plan: LogicalPlan,
    plan_on_analytics: bool,
) -> DfResult<(SchemaRef, Vec<RecordBatch>, bool)> {
    match runtime().filter(|_| plan_on_analytics) {
        Some(rt) => {
            // Planning reads 'now' through the session's clock, which the analytics
            // runtime's task must know too.
            match crate::clock::CLOCK.try_with(Arc::clone) {
                Ok(clock) => {
                    on_runtime(
                        rt,
                        crate::clock::CLOCK.scope(clock, plan_and_collect(ctx, plan)),
                    )
                    .await
                }
                Err(_) => on_runtime(rt, plan_and_collect(ctx, plan)).await,
            }
        }
        None => plan_and_collect(ctx, plan).await,
    }
}

async fn plan_and_collect(
    ctx: SessionContext,
    plan: LogicalPlan,
) -> DfResult<(SchemaRef, Vec<RecordBatch>, bool)> {
    let df = ctx.execute_logical_plan(plan).await?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let task_ctx = Arc::new(df.task_ctx());
    let physical = df.create_physical_plan().await?;
    let analytical = reads_columns(&physical);
    let batches = match runtime().filter(|_| analytical && !ANALYTICS_THREAD.get()) {
        Some(rt) => on_runtime(rt, collect_in_order(physical, task_ctx)).await?,
        None => collect_in_order(physical, task_ctx).await?,
    };
    Ok((schema, batches, analytical))
}

/// Every output partition's rows, the partitions run at once but their rows returned in
/// partition order rather than as they arrive: a `UNION ALL` returns its branches in the
/// order they are written, as PostgreSQL's Append does, the same way on every run.
pub(crate) async fn collect_in_order(
    physical: Arc<dyn ExecutionPlan>,
    task_ctx: Arc<datafusion::execution::TaskContext>,
) -> DfResult<Vec<RecordBatch>> {
    Ok(collect_partitioned(physical, task_ctx)
        .await?
        .into_iter()
        .flatten()
        .collect())
}

async fn on_runtime<T: Send + 'static>(
    rt: &Runtime,
    work: impl Future<Output = DfResult<T>> + Send + 'static,
) -> DfResult<T> {
    let mut task = AbortOnDrop(rt.spawn(work));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_over_its_share_pauses_until_it_is_back_within_it() {
        let ms = Duration::from_millis;
        // 10 ms of CPU in 10 ms at a quarter share: due at 40 ms, so 30 ms more.
        assert_eq!(pause_for(ms(10), ms(10), 0.25), ms(30));
        // Within the share: no pause.
        assert_eq!(pause_for(ms(10), ms(40), 0.25), Duration::ZERO);
        assert_eq!(
            pause_for(Duration::ZERO, Duration::ZERO, 0.25),
            Duration::ZERO
        );
        // Never longer than MAX_PAUSE at a time.
        assert_eq!(pause_for(ms(100), ms(1), 0.1), MAX_PAUSE);
    }

    #[test]
    fn analytics_threads_keep_to_the_quota_while_transactions_run() {
        fn spin_for(d: Duration) {
            let t = Instant::now();
            while t.elapsed() < d {
                std::hint::black_box(0u64);
            }
        }
        set_cpu_percent(10);
        let (mine, other) = (1, 2);
        // Not an analytics thread: never accounted, never paused.
        for _ in 0..5 {
            note_transactional(other);
            spin_for(Duration::from_millis(2));
            yield_to_transactions(mine);
        }
        assert!(WINDOW.get().is_none());

        ANALYTICS_THREAD.set(true);
        // The session's own transactional statements do not count.
        std::thread::sleep(Duration::from_millis(BUSY_WINDOW_MS + 10));
        for _ in 0..5 {
            note_transactional(mine);
            spin_for(Duration::from_millis(2));
            yield_to_transactions(mine);
        }
        assert!(WINDOW.get().is_none());

        let cpu0 = thread_cpu_time().unwrap();
        let wall = Instant::now();
        while wall.elapsed() < Duration::from_millis(400) {
            note_transactional(other);
            spin_for(Duration::from_millis(2));
            yield_to_transactions(mine);
        }
        let share =
            (thread_cpu_time().unwrap() - cpu0).as_secs_f64() / wall.elapsed().as_secs_f64();
        // 10% asked; a busy loop unthrottled would use all of it.
        assert!(share < 0.3, "analytics used {share:.2} of the time");
        ANALYTICS_THREAD.set(false);
        set_cpu_percent(10);
    }
}
