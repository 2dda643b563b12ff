//! Engine-level tests of the storage invariants: snapshot visibility, first committer wins,
//! unique constraints across concurrent transactions, recovery from the WAL and from
//! checkpoints, and garbage collection that never removes what a snapshot can see.

use std::sync::Arc;

use basalt_common::{SqlType, TableId, Value};
use basalt_storage::catalog::{Catalog, ColumnDef, IndexDef, TableDef};
use basalt_storage::codec::encode_key;
use basalt_storage::{Engine, StorageConfig, StorageError};

fn open(dir: &std::path::Path) -> Arc<Engine> {
    Engine::open(StorageConfig {
        data_dir: dir.to_owned(),
        checkpoint_wal_bytes: 0,
        fsync: true,
    })
    .unwrap()
}

fn column(name: &str, ty: SqlType) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        ty,
        nullable: true,
        default: None,
        identity_always: false,
        mysql_type: None,
        dropped: false,
        storage: None,
        domain: None,
        precision: None,
    }
}

/// `CREATE TABLE t (id INT PRIMARY KEY, v TEXT)` with a unique index on v.
async fn create_table(engine: &Arc<Engine>) -> TableId {
    let mut id = TableId(0);
    engine
        .ddl(|c: &mut Catalog| {
            id = c.allocate_table_id();
            let oid = c.allocate_oid();
            let index_id = c.allocate_index_id();
            let index_oid = c.allocate_oid();
            c.tables.insert(
                id,
                TableDef {
                    id,
                    oid,
                    schema: "public".into(),
                    name: "t".into(),
                    columns: vec![column("id", SqlType::Int32), column("v", SqlType::Text)],
                    primary_key: Some(vec![0]),
                    primary_key_name: Some("t_pkey".into()),
                    indexes: vec![IndexDef {
                        unique: true,
                        constraint: true,
                        ..IndexDef::new(index_id, index_oid, "t_v_key".into(), vec![1])
                    }],
                    checks: vec![],
                    version: 0,
                    columnar: false,
                    foreign_keys: Vec::new(),
                    partition_key: None,
                    partition_of: None,
                    inherits: Vec::new(),
                    reloptions: Vec::new(),
                    triggers: Vec::new(),
                },
            );
            Ok::<_, StorageError>(vec![])
        })
        .await
        .unwrap();
    id
}

fn row(id: i32, v: &str) -> basalt_common::Row {
    vec![Value::Int32(id), Value::Text(v.into())].into()
}

fn key(id: i32) -> Box<[u8]> {
    encode_key(&[Value::Int32(id)], &[0])
}

async fn insert(engine: &Arc<Engine>, table: TableId, id: i32, v: &str) {
    let def = engine.catalog().table(table).unwrap().clone();
    let store = engine.table(table).unwrap();
    let txn = engine.begin();
    txn.insert(&store, &def, row(id, v)).unwrap();
    engine.commit(&txn).await.unwrap();
}

fn read(engine: &Arc<Engine>, table: TableId, id: i32) -> Option<String> {
    let store = engine.table(table).unwrap();
    let txn = engine.begin();
    txn.read(&store, &key(id)).map(|r| match &r[1] {
        Value::Text(s) => s.clone(),
        other => format!("{other:?}"),
    })
}

#[tokio::test]
async fn dirty_read_uncommitted_writes_are_invisible() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let t = create_table(&engine).await;
    let def = engine.catalog().table(t).unwrap().clone();
    let store = engine.table(t).unwrap();
    let writer = engine.begin();
    writer.insert(&store, &def, row(1, "a")).unwrap();
    assert_eq!(
        read(&engine, t, 1),
        None,
        "another transaction sees an uncommitted insert"
    );
    assert!(
        writer.read(&store, &key(1)).is_some(),
        "a transaction must see its own write"
    );
    engine.commit(&writer).await.unwrap();
    assert_eq!(read(&engine, t, 1).as_deref(), Some("a"));
}

#[tokio::test]
async fn snapshot_does_not_see_commits_made_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let t = create_table(&engine).await;
    insert(&engine, t, 1, "old").await;
    let store = engine.table(t).unwrap();
    let def = engine.catalog().table(t).unwrap().clone();
    let reader = engine.begin();
    let writer = engine.begin();
    writer.update(&store, &def, &key(1), row(1, "new")).unwrap();
    engine.commit(&writer).await.unwrap();
    let seen = reader.read(&store, &key(1)).unwrap();
    assert_eq!(
        seen[1],
        Value::Text("old".into()),
        "read skew: snapshot changed under the reader"
    );
}

#[tokio::test]
async fn lost_update_first_committer_wins() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let t = create_table(&engine).await;
    insert(&engine, t, 1, "x").await;
    let store = engine.table(t).unwrap();
    let def = engine.catalog().table(t).unwrap().clone();
    let a = engine.begin();
    let b = engine.begin();
    a.update(&store, &def, &key(1), row(1, "a")).unwrap();
    b.update(&store, &def, &key(1), row(1, "b")).unwrap();
    engine.commit(&a).await.unwrap();
    let err = engine.commit(&b).await.unwrap_err();
    assert!(matches!(err, StorageError::SerializationFailure), "{err}");
    assert_eq!(read(&engine, t, 1).as_deref(), Some("a"));
    // A write after the first commit is refused at once, not only at COMMIT.
    let c = engine.begin();
    let d = engine.begin();
    c.delete(&store, &def, &key(1)).unwrap();
    engine.commit(&c).await.unwrap();
    assert!(matches!(
        d.update(&store, &def, &key(1), row(1, "d")),
        Err(StorageError::SerializationFailure)
    ));
}

#[tokio::test]
async fn unique_constraint_holds_across_concurrent_inserts() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let t = create_table(&engine).await;
    let store = engine.table(t).unwrap();
    let def = engine.catalog().table(t).unwrap().clone();
    let a = engine.begin();
    let b = engine.begin();
    a.insert(&store, &def, row(1, "same")).unwrap();
    b.insert(&store, &def, row(2, "same")).unwrap();
    engine.commit(&a).await.unwrap();
    let err = engine.commit(&b).await.unwrap_err();
    assert!(
        matches!(err, StorageError::UniqueViolation { ref constraint, .. } if constraint == "t_v_key"),
        "{err}"
    );
    // Within one transaction too, and on the primary key.
    let c = engine.begin();
    assert!(matches!(
        c.insert(&store, &def, row(1, "other")),
        Err(StorageError::UniqueViolation { .. })
    ));
    c.insert(&store, &def, row(3, "u")).unwrap();
    assert!(matches!(
        c.insert(&store, &def, row(4, "u")),
        Err(StorageError::UniqueViolation { .. })
    ));
}

#[tokio::test]
async fn statement_rollback_and_savepoints_undo_exactly_their_writes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let t = create_table(&engine).await;
    let store = engine.table(t).unwrap();
    let def = engine.catalog().table(t).unwrap().clone();
    let catalog = engine.catalog();
    let txn = engine.begin();
    txn.begin_statement();
    txn.insert(&store, &def, row(1, "kept")).unwrap();
    let sp = txn.savepoint();
    txn.begin_statement();
    txn.insert(&store, &def, row(2, "undone by savepoint"))
        .unwrap();
    txn.begin_statement();
    txn.insert(&store, &def, row(3, "undone by statement"))
        .unwrap();
    txn.rollback_statement(&catalog);
    assert!(txn.read(&store, &key(3)).is_none());
    assert!(txn.read(&store, &key(2)).is_some());
    txn.rollback_to(&catalog, sp);
    assert!(txn.read(&store, &key(2)).is_none());
    // The unique-key map was restored too: "undone by savepoint" may be inserted again.
    txn.insert(&store, &def, row(4, "undone by savepoint"))
        .unwrap();
    engine.commit(&txn).await.unwrap();
    assert_eq!(read(&engine, t, 1).as_deref(), Some("kept"));
    assert_eq!(read(&engine, t, 2), None);
    assert_eq!(read(&engine, t, 4).as_deref(), Some("undone by savepoint"));
}

#[tokio::test]
async fn recovery_replays_the_wal_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let t;
    {
        let engine = open(dir.path());
        t = create_table(&engine).await;
        for i in 0..100 {
            insert(&engine, t, i, &format!("v{i}")).await;
        }
        let store = engine.table(t).unwrap();
        let def = engine.catalog().table(t).unwrap().clone();
        let txn = engine.begin();
        txn.delete(&store, &def, &key(5)).unwrap();
        engine.commit(&txn).await.unwrap();
        // An uncommitted transaction leaves nothing behind.
        let lost = engine.begin();
        lost.insert(&store, &def, row(1000, "never committed"))
            .unwrap();
        // No shutdown: the process "dies" here.
    }
    let engine = open(dir.path());
    assert_eq!(read(&engine, t, 7).as_deref(), Some("v7"));
    assert_eq!(read(&engine, t, 5), None);
    assert_eq!(read(&engine, t, 1000), None);
    // Indexes are rebuilt: the unique index still rejects duplicates after recovery.
    let store = engine.table(t).unwrap();
    let def = engine.catalog().table(t).unwrap().clone();
    let txn = engine.begin();
    assert!(matches!(
        txn.insert(&store, &def, row(500, "v9")),
        Err(StorageError::UniqueViolation { .. })
    ));
}

#[tokio::test]
async fn checkpoint_then_recovery_keeps_every_commit_and_drops_old_wal() {
    let dir = tempfile::tempdir().unwrap();
    let t;
    {
        let engine = open(dir.path());
        t = create_table(&engine).await;
        for i in 0..50 {
            insert(&engine, t, i, &format!("a{i}")).await;
        }
        engine.checkpoint().unwrap();
        for i in 50..60 {
            insert(&engine, t, i, &format!("b{i}")).await;
        }
    }
    let wal_files = std::fs::read_dir(dir.path().join("wal")).unwrap().count();
    assert_eq!(
        wal_files, 1,
        "segments before the checkpoint must be removed"
    );
    let engine = open(dir.path());
    assert_eq!(read(&engine, t, 10).as_deref(), Some("a10"));
    assert_eq!(read(&engine, t, 55).as_deref(), Some("b55"));
    // And the checkpoint itself is a Parquet file other tools can read.
    let ckpt = std::fs::read_to_string(dir.path().join("checkpoints/CURRENT")).unwrap();
    let files: Vec<_> = std::fs::read_dir(dir.path().join("checkpoints").join(ckpt.trim()))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "parquet"))
        .collect();
    assert_eq!(files.len(), 1);
}

#[tokio::test]
async fn garbage_collection_keeps_versions_an_active_snapshot_can_see() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let t = create_table(&engine).await;
    insert(&engine, t, 1, "v0").await;
    let store = engine.table(t).unwrap();
    let def = engine.catalog().table(t).unwrap().clone();
    let old_reader = engine.begin();
    for i in 1..=5 {
        let txn = engine.begin();
        txn.update(&store, &def, &key(1), row(1, &format!("v{i}")))
            .unwrap();
        engine.commit(&txn).await.unwrap();
    }
    engine.collect_garbage();
    assert_eq!(
        old_reader.read(&store, &key(1)).unwrap()[1],
        Value::Text("v0".into())
    );
    drop(old_reader);
    engine.collect_garbage();
    let versions = store
        .data
        .read()
        .rows
        .get(&key(1))
        .map(|c| c.len())
        .unwrap();
    assert_eq!(
        versions, 1,
        "superseded versions no snapshot needs are removed"
    );
    assert_eq!(read(&engine, t, 1).as_deref(), Some("v5"));
}

#[tokio::test]
async fn writes_made_under_an_older_table_definition_cannot_commit() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let t = create_table(&engine).await;
    let store = engine.table(t).unwrap();
    let def = engine.catalog().table(t).unwrap().clone();
    let writer = engine.begin();
    writer.insert(&store, &def, row(1, "a")).unwrap();
    // Another session truncates the table (a DDL change) before the writer commits.
    engine
        .ddl(|_c: &mut Catalog| Ok::<_, StorageError>(vec![t]))
        .await
        .unwrap();
    let err = engine.commit(&writer).await.unwrap_err();
    assert!(matches!(err, StorageError::SerializationFailure), "{err}");
    // The transaction's own DDL keeps its writes valid, and duplicates among them are still
    // caught at commit.
    let store = engine.table(t).unwrap();
    let def = engine.catalog().table(t).unwrap().clone();
    let own = engine.begin();
    own.insert(&store, &def, row(2, "b")).unwrap();
    engine
        .ddl(|_c: &mut Catalog| Ok::<_, StorageError>(vec![]))
        .await
        .unwrap();
    own.adopt_definitions(&engine.catalog());
    engine.commit(&own).await.unwrap();
    assert_eq!(read(&engine, t, 2).as_deref(), Some("b"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commits_share_one_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let t = create_table(&engine).await;
    let before = engine.wal_sync_count();
    let writers = 16;
    let per_writer = 20;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let engine = Arc::clone(&engine);
        tasks.push(tokio::spawn(async move {
            for i in 0..per_writer {
                let id = w * 1000 + i;
                insert(&engine, t, id, &format!("w{w}-{i}")).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let commits = (writers * per_writer) as u64;
    let syncs = engine.wal_sync_count() - before;
    eprintln!("group commit: {commits} commits from {writers} writers took {syncs} fsyncs");
    assert!(
        syncs < commits,
        "{syncs} fsyncs for {commits} concurrent commits: no group commit"
    );
}

#[tokio::test]
async fn garbage_collection_covers_tables_larger_than_one_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let t = create_table(&engine).await;
    let store = engine.table(t).unwrap();
    let def = engine.catalog().table(t).unwrap().clone();
    let n = 10_000; // more than two GC chunks
    let first = engine.begin();
    for i in 0..n {
        first
            .insert(&store, &def, row(i, &format!("a{i}")))
            .unwrap();
    }
    engine.commit(&first).await.unwrap();
    drop(first); // an open transaction's snapshot keeps what it can see
    let txn = engine.begin();
    for i in 0..n {
        txn.update(&store, &def, &key(i), row(i, &format!("b{i}")))
            .unwrap();
    }
    engine.commit(&txn).await.unwrap();
    drop(txn);
    engine.collect_garbage();
    let data = store.data.read();
    assert_eq!(data.rows.len(), n as usize);
    assert!(
        data.rows.values().all(|c| c.len() == 1),
        "old versions left behind"
    );
    drop(data);
    assert_eq!(
        read(&engine, t, n - 1).as_deref(),
        Some(&*format!("b{}", n - 1))
    );
}

#[tokio::test]
async fn garbage_collection_examines_only_superseded_keys_once_per_pass() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let t = create_table(&engine).await;
    let store = engine.table(t).unwrap();
    let def = engine.catalog().table(t).unwrap().clone();
    let txn = engine.begin();
    for i in 0..5_000 {
        txn.insert(&store, &def, row(i, &format!("a{i}"))).unwrap();
    }
    engine.commit(&txn).await.unwrap();
    drop(txn); // an open transaction's snapshot keeps what it can see
               // 200 commits each update one of two hot rows: the next pass looks at those two keys,
               // not at the 5,000-row table once per commit.
    for i in 0..200 {
        let txn = engine.begin();
        txn.update(&store, &def, &key(i % 2), row(i % 2, &format!("v{i}")))
            .unwrap();
        engine.commit(&txn).await.unwrap();
    }
    let before = engine.gc_keys_examined();
    let removed = engine.collect_garbage();
    assert_eq!(removed, 200, "every superseded version is removed");
    assert_eq!(engine.gc_keys_examined() - before, 2);
    assert_eq!(engine.collect_garbage(), 0, "nothing is left to look at");
    assert_eq!(engine.gc_keys_examined() - before, 2);
    assert_eq!(read(&engine, t, 1).as_deref(), Some("v199"));
    // VACUUM looks at the whole table.
    assert_eq!(engine.vacuum(Some(t)), 0);
    assert_eq!(engine.gc_keys_examined() - before, 2 + 5_000);
}

/// Sets or clears the primary key of `t`, as ALTER TABLE ADD/DROP PRIMARY KEY does.
async fn set_primary_key(engine: &Arc<Engine>, t: TableId, key: Option<Vec<usize>>) {
    engine
        .ddl(|c: &mut Catalog| {
            let def = c.table_mut(t)?;
            def.primary_key_name = key.as_ref().map(|_| "t_pkey".to_owned());
            def.primary_key = key;
            Ok::<_, StorageError>(vec![])
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn adding_a_primary_key_rekeys_the_rows_and_survives_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let t;
    {
        let engine = open(dir.path());
        t = create_table(&engine).await;
        set_primary_key(&engine, t, None).await; // rows keyed by hidden row ids
        for i in 0..50 {
            insert(&engine, t, i, &format!("v{i}")).await;
        }
        set_primary_key(&engine, t, Some(vec![0])).await;
        assert_eq!(read(&engine, t, 7).as_deref(), Some("v7"));
        let store = engine.table(t).unwrap();
        let def = engine.catalog().table(t).unwrap().clone();
        let txn = engine.begin();
        txn.update(&store, &def, &key(7), row(7, "seven")).unwrap();
        assert!(matches!(
            txn.insert(&store, &def, row(8, "dup")),
            Err(StorageError::UniqueViolation { .. })
        ));
        engine.commit(&txn).await.unwrap();
        // No shutdown: recovery replays the re-keying from the WAL.
    }
    let engine = open(dir.path());
    assert_eq!(read(&engine, t, 7).as_deref(), Some("seven"));
    assert_eq!(read(&engine, t, 49).as_deref(), Some("v49"));
    engine.checkpoint().unwrap();
    drop(engine);
    let engine = open(dir.path());
    assert_eq!(read(&engine, t, 7).as_deref(), Some("seven"));
    assert_eq!(engine.table(t).unwrap().key_count(), 50);
}

#[tokio::test]
async fn a_primary_key_over_duplicates_or_nulls_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let t = create_table(&engine).await;
    set_primary_key(&engine, t, None).await;
    engine
        .ddl(|c: &mut Catalog| {
            c.table_mut(t)?.indexes.clear();
            Ok::<_, StorageError>(vec![])
        })
        .await
        .unwrap();
    insert(&engine, t, 1, "a").await;
    insert(&engine, t, 1, "b").await;
    let add = |cols: Vec<usize>| {
        let engine = Arc::clone(&engine);
        async move {
            engine
                .ddl(|c: &mut Catalog| {
                    c.table_mut(t)?.primary_key = Some(cols);
                    Ok::<_, StorageError>(vec![])
                })
                .await
        }
    };
    assert!(matches!(
        add(vec![0]).await,
        Err(StorageError::UniqueIndexBuild { .. })
    ));
    let store = engine.table(t).unwrap();
    let def = engine.catalog().table(t).unwrap().clone();
    let txn = engine.begin();
    txn.insert(
        &store,
        &def,
        vec![Value::Null, Value::Text("c".into())].into(),
    )
    .unwrap();
    engine.commit(&txn).await.unwrap();
    assert!(matches!(
        add(vec![0]).await,
        Err(StorageError::NullInKey { .. })
    ));
    assert!(engine.catalog().table(t).unwrap().primary_key.is_none());
    assert_eq!(
        store.key_count(),
        3,
        "a refused change leaves the rows as they were"
    );
}

#[tokio::test]
async fn dropping_a_primary_key_gives_the_same_row_ids_after_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let t;
    {
        let engine = open(dir.path());
        t = create_table(&engine).await;
        set_primary_key(&engine, t, Some(vec![0])).await;
        for i in 1..=3 {
            insert(&engine, t, i, &format!("v{i}")).await;
        }
        set_primary_key(&engine, t, None).await;
        // A rolled-back insert uses up a row id that recovery never sees.
        let store = engine.table(t).unwrap();
        let def = engine.catalog().table(t).unwrap().clone();
        let lost = engine.begin();
        lost.insert(&store, &def, row(99, "rolled back")).unwrap();
        drop(lost);
        set_primary_key(&engine, t, Some(vec![0])).await;
        set_primary_key(&engine, t, None).await;
        // Delete the row with id 1 by its hidden key, as a DELETE … WHERE id = 1 would.
        let store = engine.table(t).unwrap();
        let def = engine.catalog().table(t).unwrap().clone();
        let txn = engine.begin();
        let mut rows = Vec::new();
        store.scan_chunk(None, txn.read_ts, 100, &mut rows);
        let (k, _) = rows
            .iter()
            .find(|(_, r)| r[0] == Value::Int32(1))
            .unwrap()
            .clone();
        txn.delete(&store, &def, &k).unwrap();
        engine.commit(&txn).await.unwrap();
    }
    let engine = open(dir.path());
    let store = engine.table(t).unwrap();
    let txn = engine.begin();
    let mut rows = Vec::new();
    store.scan_chunk(None, txn.read_ts, 100, &mut rows);
    let mut ids: Vec<_> = rows.iter().map(|(_, r)| r[0].clone()).collect();
    ids.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(ids, vec![Value::Int32(2), Value::Int32(3)]);
}

#[tokio::test]
async fn a_transaction_larger_than_one_log_record_survives_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let t;
    let big = "x".repeat(10_000); // 3,000 rows of 10 KB: the log record is cut into parts
    {
        let engine = open(dir.path());
        t = create_table(&engine).await;
        let def = engine.catalog().table(t).unwrap().clone();
        let store = engine.table(t).unwrap();
        let txn = engine.begin();
        for i in 0..3000 {
            txn.insert(&store, &def, row(i, &format!("{i}{big}")))
                .unwrap();
        }
        engine.commit(&txn).await.unwrap();
        insert(&engine, t, 5000, "after").await;
    }
    let engine = open(dir.path());
    for i in [0, 1234, 2999] {
        assert_eq!(read(&engine, t, i), Some(format!("{i}{big}")));
    }
    assert_eq!(read(&engine, t, 5000).as_deref(), Some("after"));
    // Commits after recovery get later timestamps and recover too.
    insert(&engine, t, 5001, "later").await;
    drop(engine);
    let engine = open(dir.path());
    assert_eq!(read(&engine, t, 5001).as_deref(), Some("later"));
    assert_eq!(read(&engine, t, 2999), Some(format!("2999{big}")));
}
