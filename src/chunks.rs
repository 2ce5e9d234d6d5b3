//! Chunks from an async producer (an S3 GET, the Engine API's archive stream) as a
//! blocking `Read`, for the pipelines that run on a thread of their own.

use std::io::{self, Read};

use bytes::Bytes;
use tokio::sync::mpsc;

/// A `Read` over the chunks of a channel: an error sent is the read's error, the channel's
/// end is the end of input.
pub struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl ChannelReader {
    pub fn new(rx: mpsc::Receiver<io::Result<Bytes>>) -> Self {
        ChannelReader {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(err)) => return Err(err),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// A `Write` into a channel of chunks of about `chunk` bytes (the other half of
/// [`ChannelReader`]): a blocking producer feeding an async consumer, such as a tar built
/// on a blocking thread and uploaded to the engine. A consumer gone is a broken pipe.
pub struct ChannelWriter {
    tx: mpsc::Sender<Bytes>,
    pending: Vec<u8>,
    chunk: usize,
}

impl ChannelWriter {
    pub fn new(tx: mpsc::Sender<Bytes>, chunk: usize) -> Self {
        ChannelWriter {
            tx,
            pending: Vec::with_capacity(chunk),
            chunk,
        }
    }

    fn send_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.pending,
            Vec::with_capacity(self.chunk),
        ));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the reader stopped"))
    }
}

impl io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= self.chunk {
            self.send_pending()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_pending()
    }
}

#[cfg(test)]
mod writer_tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn what_is_written_arrives_in_chunks_and_in_order() {
        let (tx, mut rx) = mpsc::channel(4);
        let producer = std::thread::spawn(move || {
            let mut writer = ChannelWriter::new(tx, 10);
            for i in 0..25u8 {
                writer.write_all(&[i]).unwrap();
            }
            writer.flush().unwrap();
        });
        let mut all = Vec::new();
        while let Some(chunk) = rx.blocking_recv() {
            assert!(chunk.len() <= 10);
            all.extend_from_slice(&chunk);
        }
        producer.join().unwrap();
        assert_eq!(all, (0..25u8).collect::<Vec<_>>());
    }
}
