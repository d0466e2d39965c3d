//! Opening a state directory: create it if needed, never reset an existing file, and turn every way an open
//! can fail into an error that names the file and says what to do.

use super::tables::{
    DEAD_LETTERS, FIRST_LAYOUT, LAYOUT_VERSION, LAYOUT_VERSION_KEY, MESSAGE_BODIES, MESSAGE_STATES, META, OBJECTS,
    OBJECT_EXPIRIES, QUEUE_SIZES, READY, SCHEDULER_LEASES, TIMERS,
};
use super::{During, STATE_FILE};
use crate::error::StoreError;
use ::redb::{Builder, Database, DatabaseError, ReadableDatabase, StorageError, TableError};
use std::any::Any;
use std::fs;
use std::io::ErrorKind;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// redb's page cache. Its default, 1 GiB, is sized for databases far larger than relais state; 64 MiB holds the
/// hot part of a state file with a deep queue.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

const OPENING: &str = "opening the state file";
const CREATING: &str = "creating the state file";

fn builder() -> Builder {
    let mut builder = Builder::new();
    // Without this, redb trusts a cleanly closed file and may panic on one damaged since; with it, the open
    // verifies every page checksum and reports damage as `StorageError::Corrupted`.
    builder.set_check_integrity_on_open(true);
    builder.set_cache_size(CACHE_BYTES);
    builder
}

/// Opens (creating if needed) the state file in `dir`; returns it with its layout version (an older one, 1, is
/// migrated by the caller).
pub(super) fn open(dir: &Path) -> Result<(Database, PathBuf, u64), StoreError> {
    fs::create_dir_all(dir).map_err(|source| StoreError::Open {
        path: dir.to_path_buf(),
        what: "creating the state directory",
        source,
    })?;
    let file = dir.join(STATE_FILE);
    match fs::symlink_metadata(&file) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => create(dir, &file)?,
        Err(source) => return Err(StoreError::Open { path: file, what: "looking for the state file", source }),
    }
    let db = open_existing(dir, &file)?;
    let layout = check_layout(&db, &file)?;
    Ok((db, file, layout))
}

/// Opens a file that exists. redb's `open` (unlike `create`) never initialises a file, so an emptied or
/// truncated file is an error, not a new store.
fn open_existing(dir: &Path, file: &Path) -> Result<Database, StoreError> {
    // The integrity check should turn damage into errors; a panic inside redb on a file damaged in a way it did
    // not foresee is still damage, and is reported as such instead of taking the process down.
    match panic::catch_unwind(AssertUnwindSafe(|| builder().open(file))) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(classify(dir, file, e)),
        Err(panic) => Err(StoreError::Corrupt {
            path: file.to_path_buf(),
            detail: format!("the storage engine failed while checking it: {}", panic_message(&*panic)),
        }),
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(message) = panic.downcast_ref::<&str>() {
        message
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message
    } else {
        "no message"
    }
}

/// Maps redb's open errors to what an operator needs to know.
fn classify(dir: &Path, file: &Path, error: DatabaseError) -> StoreError {
    let corrupt = |detail: String| StoreError::Corrupt { path: file.to_path_buf(), detail };
    match error {
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
            StoreError::InUse { dir: dir.to_path_buf(), file: file.to_path_buf() }
        }
        DatabaseError::UpgradeRequired(version) => StoreError::Incompatible {
            state: format!("file {}", file.display()),
            detail: format!("redb file format {version}, which this relais's redb no longer reads"),
            way_out: crate::error::REDB_WAY_OUT,
        },
        DatabaseError::RepairAborted => corrupt("the repair after an unclean shutdown was aborted".to_string()),
        DatabaseError::Storage(StorageError::Corrupted(detail)) => corrupt(detail),
        DatabaseError::Storage(StorageError::Io(e)) if e.kind() == ErrorKind::InvalidData => corrupt(e.to_string()),
        DatabaseError::Storage(StorageError::Io(e)) if e.kind() == ErrorKind::UnexpectedEof => {
            corrupt(format!("the file ends before its header does (truncated?): {e}"))
        }
        DatabaseError::Storage(StorageError::Io(source)) => {
            StoreError::Open { path: file.to_path_buf(), what: OPENING, source }
        }
        other => StoreError::storage(OPENING, other),
    }
}

/// Creates an empty state file with every table and the layout version, under a temporary name, then links it
/// into place. So `state.redb` never exists half-initialised, even after a crash during the first start, and a
/// file that is empty or truncated later can only be damage.
fn create(dir: &Path, file: &Path) -> Result<(), StoreError> {
    let temporary = dir.join(format!("{STATE_FILE}.new-{}", std::process::id()));
    match fs::remove_file(&temporary) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(source) => {
            return Err(StoreError::Open { path: temporary, what: "removing a leftover new state file", source })
        }
    }
    let db = builder().create(&temporary).map_err(|e| classify(dir, &temporary, e))?;
    initialise(&db)?;
    db.close().during(CREATING)?;
    // A hard link fails if `state.redb` appeared in the meantime (another process started on the same empty
    // directory): theirs is kept, and the open that follows reports it in use. File systems without hard links
    // fall back to a rename, which has a narrow window for that race.
    match fs::hard_link(&temporary, file) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(_) if !file.exists() => fs::rename(&temporary, file).map_err(|source| StoreError::Open {
            path: file.to_path_buf(),
            what: "moving the new state file into place",
            source,
        })?,
        Err(_) => {}
    }
    // The link (or rename) is what matters; a temporary file that cannot be removed is an empty store left
    // behind, harmless, and removed by the next creation in a process with the same id.
    let _ = fs::remove_file(&temporary);
    sync_directory(dir)
}

fn initialise(db: &Database) -> Result<(), StoreError> {
    let tx = db.begin_write().during(CREATING)?;
    {
        let mut meta = tx.open_table(META).during(CREATING)?;
        meta.insert(LAYOUT_VERSION_KEY, LAYOUT_VERSION).during(CREATING)?;
        tx.open_table(OBJECTS).during(CREATING)?;
        tx.open_table(OBJECT_EXPIRIES).during(CREATING)?;
        tx.open_table(MESSAGE_BODIES).during(CREATING)?;
        tx.open_table(MESSAGE_STATES).during(CREATING)?;
        tx.open_table(READY).during(CREATING)?;
        tx.open_table(TIMERS).during(CREATING)?;
        tx.open_table(QUEUE_SIZES).during(CREATING)?;
        tx.open_table(DEAD_LETTERS).during(CREATING)?;
        tx.open_table(SCHEDULER_LEASES).during(CREATING)?;
    }
    tx.commit().during(CREATING)
}

/// Makes the new directory entry durable: without it, a power cut right after the first start could lose the
/// link to a file that already holds accepted messages.
#[cfg(unix)]
fn sync_directory(dir: &Path) -> Result<(), StoreError> {
    let sync = fs::File::open(dir).and_then(|d| d.sync_all());
    sync.map_err(|source| StoreError::Open { path: dir.to_path_buf(), what: "syncing the state directory", source })
}

/// Windows cannot open a directory as a file to sync it; NTFS journals the rename itself.
#[cfg(not(unix))]
fn sync_directory(_dir: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// Records the current layout (after a migration), in the migration's transaction.
pub(super) fn set_layout(tx: &::redb::WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(META).during(OPENING)?.insert(LAYOUT_VERSION_KEY, LAYOUT_VERSION).during(OPENING)?;
    Ok(())
}

/// Refuses a redb file that relais did not create, or created with a newer layout; returns its layout.
fn check_layout(db: &Database, file: &Path) -> Result<u64, StoreError> {
    let incompatible = |detail: String| StoreError::Incompatible {
        state: format!("file {}", file.display()),
        detail,
        way_out: crate::error::REDB_WAY_OUT,
    };
    let tx = db.begin_read().during(OPENING)?;
    let meta = match tx.open_table(META) {
        Ok(meta) => meta,
        Err(TableError::TableDoesNotExist(_)) => {
            return Err(incompatible("a redb file without relais tables: not a relais state file".to_string()))
        }
        Err(e) => return Err(StoreError::storage(OPENING, e)),
    };
    match meta.get(LAYOUT_VERSION_KEY).during(OPENING)?.map(|v| v.value()) {
        Some(version @ (FIRST_LAYOUT..=LAYOUT_VERSION)) => Ok(version),
        Some(version) => Err(incompatible(format!("layout version {version}, this relais reads {LAYOUT_VERSION}"))),
        None => Err(incompatible("no relais layout version: not a relais state file".to_string())),
    }
}
