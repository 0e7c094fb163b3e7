//! The queue in front of one exporter, bounded in requests and in bytes,
//! held in memory or, when configured, on disk in a redb database so that
//! acknowledged data survives a crash.
//!
//! A request is first reserved, which counts it against the bounds, and then
//! committed. The pipeline reserves in every exporter's queue before it
//! commits in any, so a request that one queue cannot take is refused whole.
//! Consumers take batches: queued requests of one signal whose protobuf
//! encodings are concatenated, which protobuf decodes as one request holding
//! all their items.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::Notify;

use crate::signal::Signal;

/// One export request as received: the protobuf encoding of its signal's
/// Export*ServiceRequest.
#[derive(Clone, Debug)]
pub struct Batch {
    pub signal: Signal,
    pub body: Bytes,
    /// Number of spans, metric data points or log records.
    pub item_count: u64,
}

/// Requests taken from the queue together and sent as one.
#[derive(Debug)]
pub struct Taken {
    pub batch: Batch,
    /// Queue ids of the requests inside, removed from disk once delivered.
    ids: Vec<u64>,
    bytes: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("cannot open the disk queue {path}: {source}")]
    Open { path: PathBuf, source: redb::Error },
    #[error("writing to the disk queue failed: {0}")]
    Write(redb::Error),
}

/// Bounds of one queue.
#[derive(Clone, Copy, Debug)]
pub struct QueueLimits {
    pub max_requests: usize,
    pub max_bytes: usize,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    signal: Signal,
    item_count: u64,
    bytes: usize,
    /// The body, or `None` when it is only on disk.
    body: Option<Bytes>,
}

#[derive(Debug, Default)]
struct State {
    entries: VecDeque<Entry>,
    queued_bytes: usize,
    reserved_requests: usize,
    reserved_bytes: usize,
    /// Bytes of taken requests still on disk, which count against the bound
    /// until they are delivered or given up.
    taken_bytes_on_disk: usize,
    /// Number of those requests.
    taken_requests_on_disk: usize,
    next_id: u64,
    closed: bool,
}

#[derive(Debug)]
pub struct Queue {
    state: Mutex<State>,
    arrived: Notify,
    limits: QueueLimits,
    disk: Option<DiskStore>,
}

/// A slot counted against the queue's bounds; dropping it unused frees it.
pub struct Reservation<'a> {
    queue: &'a Queue,
    bytes: usize,
    committed: bool,
}

impl Queue {
    pub fn in_memory(limits: QueueLimits) -> Queue {
        Queue {
            state: Mutex::new(State::default()),
            arrived: Notify::new(),
            limits,
            disk: None,
        }
    }

    /// Opens or creates the disk queue at `path` and loads the requests that
    /// a previous run left there, oldest first.
    pub fn on_disk(limits: QueueLimits, path: &Path) -> Result<Queue, QueueError> {
        let open_error = |source: redb::Error| QueueError::Open {
            path: path.to_owned(),
            source,
        };
        let disk = DiskStore::open(path).map_err(open_error)?;
        let entries = disk.load().map_err(open_error)?;
        let mut state = State {
            next_id: entries.back().map_or(0, |entry| entry.id + 1),
            queued_bytes: entries.iter().map(|entry| entry.bytes).sum(),
            entries,
            ..State::default()
        };
        state.closed = false;
        Ok(Queue {
            state: Mutex::new(state),
            arrived: Notify::new(),
            limits,
            disk: Some(disk),
        })
    }

    /// Reserves room for a request of `bytes`, or returns `None` when the
    /// queue is full or closed.
    pub fn try_reserve(&self, bytes: usize) -> Option<Reservation<'_>> {
        let mut state = self.lock();
        let requests = state.entries.len() + state.reserved_requests;
        let used_bytes = state.queued_bytes + state.reserved_bytes + state.taken_bytes_on_disk;
        let fits = requests < self.limits.max_requests
            && used_bytes.saturating_add(bytes) <= self.limits.max_bytes;
        if state.closed || !fits {
            return None;
        }
        state.reserved_requests += 1;
        state.reserved_bytes += bytes;
        Some(Reservation {
            queue: self,
            bytes,
            committed: false,
        })
    }

    pub fn limits(&self) -> QueueLimits {
        self.limits
    }

    pub fn is_durable(&self) -> bool {
        self.disk.is_some()
    }

    /// Number of requests waiting.
    pub fn depth(&self) -> usize {
        self.lock().entries.len()
    }

    /// Requests still on disk: waiting, or taken and not yet delivered or
    /// given up. Always 0 for a memory queue.
    pub fn requests_on_disk(&self) -> usize {
        let state = self.lock();
        if self.disk.is_some() {
            state.entries.len() + state.taken_requests_on_disk
        } else {
            0
        }
    }

    /// Bytes of the requests waiting.
    pub fn queued_bytes(&self) -> usize {
        self.lock().queued_bytes
    }

    /// Stops new reservations; requests already queued can still be taken.
    pub fn close(&self) {
        self.lock().closed = true;
        self.arrived.notify_waiters();
    }

    /// Waits for a request and takes it with the requests of the same signal
    /// queued behind it, up to `max_bytes` in all. When less than that is
    /// queued, waits up to `linger` for more. Returns `None` once the queue is
    /// closed and empty.
    pub async fn take(&self, max_bytes: usize, linger: Duration) -> Option<Taken> {
        loop {
            let arrived = self.arrived.notified();
            {
                let state = self.lock();
                if !state.entries.is_empty() {
                    break;
                }
                if state.closed {
                    return None;
                }
            }
            arrived.await;
        }

        if !linger.is_zero() && self.lock().queued_bytes < max_bytes {
            let deadline = tokio::time::Instant::now() + linger;
            while self.lock().queued_bytes < max_bytes && !self.lock().closed {
                let arrived = self.arrived.notified();
                if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                    break;
                }
            }
        }
        self.take_now(max_bytes)
    }

    fn take_now(&self, max_bytes: usize) -> Option<Taken> {
        let mut state = self.lock();
        let first = state.entries.pop_front()?;
        let signal = first.signal;
        let mut taken = vec![first];
        let mut bytes = taken[0].bytes;
        while let Some(next) = state.entries.front() {
            if next.signal != signal || bytes + next.bytes > max_bytes {
                break;
            }
            bytes += next.bytes;
            taken.extend(state.entries.pop_front());
        }
        state.queued_bytes -= bytes;
        if self.disk.is_some() {
            state.taken_bytes_on_disk += bytes;
            state.taken_requests_on_disk += taken.len();
        }
        drop(state);

        let mut body = BytesMut::with_capacity(bytes);
        let mut ids = Vec::with_capacity(taken.len());
        let mut item_count = 0;
        for entry in taken {
            ids.push(entry.id);
            item_count += entry.item_count;
            match (entry.body, &self.disk) {
                (Some(part), _) => body.extend_from_slice(&part),
                (None, Some(disk)) => match disk.read(entry.id) {
                    Ok(Some(part)) => body.extend_from_slice(&part),
                    Ok(None) => tracing::error!(id = entry.id, "disk queue entry is missing"),
                    Err(error) => {
                        tracing::error!(id = entry.id, %error, "reading the disk queue failed")
                    }
                },
                (None, None) => {}
            }
        }
        Some(Taken {
            batch: Batch {
                signal,
                body: body.freeze(),
                item_count,
            },
            ids,
            bytes,
        })
    }

    /// Ends a taken batch, delivered or given up: removes it from disk.
    pub fn complete(&self, taken: &Taken) {
        if let Some(disk) = &self.disk {
            if let Err(error) = disk.remove(&taken.ids) {
                tracing::error!(%error, "removing delivered data from the disk queue failed; it may be sent again after a restart");
            }
            let mut state = self.lock();
            state.taken_bytes_on_disk -= taken.bytes;
            state.taken_requests_on_disk -= taken.ids.len();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Reservation<'_> {
    /// Queues the request. With a disk queue, returns once it is durably
    /// written.
    pub fn commit(mut self, batch: Batch) -> Result<(), QueueError> {
        let queue = self.queue;
        let id = {
            let mut state = queue.lock();
            let id = state.next_id;
            state.next_id += 1;
            id
        };
        let body = match &queue.disk {
            Some(disk) => {
                disk.write(id, &batch)?;
                None
            }
            None => Some(batch.body),
        };

        let mut state = queue.lock();
        state.reserved_requests -= 1;
        state.reserved_bytes -= self.bytes;
        state.queued_bytes += self.bytes;
        let entry = Entry {
            id,
            signal: batch.signal,
            item_count: batch.item_count,
            bytes: self.bytes,
            body,
        };
        // Ids are handed out in order but commits may finish out of order.
        let position = state.entries.partition_point(|queued| queued.id < id);
        state.entries.insert(position, entry);
        drop(state);
        self.committed = true;
        queue.arrived.notify_one();
        Ok(())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.committed {
            let mut state = self.queue.lock();
            state.reserved_requests -= 1;
            state.reserved_bytes -= self.bytes;
        }
    }
}

const BATCHES: TableDefinition<u64, &[u8]> = TableDefinition::new("batches");

/// The redb database of a disk queue. A value is one byte for the signal,
/// eight for the item count (little endian), then the request body.
#[derive(Debug)]
struct DiskStore {
    database: Database,
}

impl DiskStore {
    fn open(path: &Path) -> Result<DiskStore, redb::Error> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(redb::Error::Io)?;
        }
        let database = Database::create(path)?;
        let transaction = database.begin_write()?;
        transaction.open_table(BATCHES)?;
        transaction.commit()?;
        Ok(DiskStore { database })
    }

    fn load(&self) -> Result<VecDeque<Entry>, redb::Error> {
        let transaction = self.database.begin_read()?;
        let table = transaction.open_table(BATCHES)?;
        let mut entries = VecDeque::new();
        for row in table.iter()? {
            let (id, value) = row?;
            let value = value.value();
            let Some((signal, item_count, body)) = decode_value(value) else {
                tracing::error!(id = id.value(), "skipping an unreadable disk queue entry");
                continue;
            };
            entries.push_back(Entry {
                id: id.value(),
                signal,
                item_count,
                bytes: body.len(),
                body: None,
            });
        }
        Ok(entries)
    }

    fn write(&self, id: u64, batch: &Batch) -> Result<(), QueueError> {
        let mut value = Vec::with_capacity(9 + batch.body.len());
        value.push(batch.signal as u8);
        value.extend_from_slice(&batch.item_count.to_le_bytes());
        value.extend_from_slice(&batch.body);
        run_blocking(|| {
            let mut transaction = self.database.begin_write()?;
            transaction.set_durability(Durability::Immediate)?;
            transaction
                .open_table(BATCHES)?
                .insert(id, value.as_slice())?;
            transaction.commit()?;
            Ok::<(), redb::Error>(())
        })
        .map_err(QueueError::Write)
    }

    fn read(&self, id: u64) -> Result<Option<Bytes>, redb::Error> {
        let transaction = self.database.begin_read()?;
        let table = transaction.open_table(BATCHES)?;
        let Some(value) = table.get(id)? else {
            return Ok(None);
        };
        Ok(decode_value(value.value()).map(|(_, _, body)| Bytes::copy_from_slice(body)))
    }

    fn remove(&self, ids: &[u64]) -> Result<(), redb::Error> {
        run_blocking(|| {
            let transaction = self.database.begin_write()?;
            {
                let mut table = transaction.open_table(BATCHES)?;
                for id in ids {
                    table.remove(*id)?;
                }
            }
            transaction.commit()?;
            Ok(())
        })
    }
}

fn decode_value(value: &[u8]) -> Option<(Signal, u64, &[u8])> {
    let (&signal, rest) = value.split_first()?;
    let signal = *Signal::ALL.get(usize::from(signal))?;
    let (count, body) = rest.split_at_checked(8)?;
    let item_count = u64::from_le_bytes(count.try_into().ok()?);
    Some((signal, item_count, body))
}

/// Runs blocking disk work, letting a multi-threaded runtime move its other
/// tasks to another thread meanwhile.
fn run_blocking<R>(work: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

#[cfg(test)]
mod tests;
