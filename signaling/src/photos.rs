//! Still photos of a consultation, in memory for the room's lifetime.
//!
//! The camera uploads a JPEG after a specialist asked for one; the
//! specialists of the room fetch it. Photos are patient information: they
//! are never written to disk, never logged, and are dropped when the room
//! ends or expires (or, beyond `limits.max_photos_per_room`, oldest first).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rand::Rng;

use crate::rooms::RoomId;

/// One still photo.
#[derive(Clone, PartialEq, Eq)]
pub struct Photo {
    /// Random, URL-safe; names the photo in its URL.
    pub id: String,
    pub jpeg: Bytes,
    pub width: u32,
    pub height: u32,
    /// When the camera took it, milliseconds since the Unix epoch (the
    /// camera's clock); the gateway's receive time if the camera did not say.
    pub captured_at_ms: u64,
}

impl std::fmt::Debug for Photo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Photo")
            .field("id", &self.id)
            .field("bytes", &self.jpeg.len())
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

/// The photos of every room.
#[derive(Debug)]
pub struct PhotoStore {
    max_per_room: usize,
    rooms: Mutex<HashMap<RoomId, VecDeque<Arc<Photo>>>>,
}

impl PhotoStore {
    pub fn new(max_per_room: usize) -> Self {
        Self {
            max_per_room: max_per_room.max(1),
            rooms: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, VecDeque<Arc<Photo>>>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `photo` for `room`, dropping the oldest beyond the limit.
    pub fn add(&self, room: &RoomId, photo: Photo) -> Arc<Photo> {
        let photo = Arc::new(photo);
        let mut rooms = self.lock();
        let photos = rooms.entry(room.clone()).or_default();
        photos.push_back(photo.clone());
        while photos.len() > self.max_per_room {
            photos.pop_front();
        }
        photo
    }

    pub fn get(&self, room: &RoomId, id: &str) -> Option<Arc<Photo>> {
        self.lock()
            .get(room)
            .and_then(|photos| photos.iter().find(|p| p.id == id).cloned())
    }

    /// Drops every photo of `room`.
    pub fn clear_room(&self, room: &RoomId) {
        self.lock().remove(room);
    }

    /// The rooms that hold photos.
    pub fn rooms(&self) -> HashSet<RoomId> {
        self.lock().keys().cloned().collect()
    }
}

/// A new photo id: 22 URL-safe random characters.
pub fn new_photo_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..22)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// Why an upload is not a JPEG photo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JpegError {
    #[error("it does not start like a JPEG file (FF D8)")]
    NotJpeg,
    #[error("it has no frame header (SOF) giving the picture's size")]
    NoFrameHeader,
}

/// The width and height of a JPEG, from its frame header (SOF0..SOF15
/// except DHT/JPG/DAC markers); enough to check the upload is a picture and
/// to tell the page its size before it downloads it.
pub fn jpeg_size(jpeg: &[u8]) -> Result<(u32, u32), JpegError> {
    if jpeg.len() < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 {
        return Err(JpegError::NotJpeg);
    }
    let mut at = 2;
    while at + 4 <= jpeg.len() {
        if jpeg[at] != 0xFF {
            return Err(JpegError::NoFrameHeader);
        }
        let marker = jpeg[at + 1];
        // Fill bytes and markers without a length.
        if marker == 0xFF {
            at += 1;
            continue;
        }
        if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            at += 2;
            continue;
        }
        let length = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        let is_frame_header =
            (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_frame_header {
            // FF Cn, length (2), precision (1), height (2), width (2).
            let header = jpeg.get(at + 5..at + 9).ok_or(JpegError::NoFrameHeader)?;
            let height = u32::from(u16::from_be_bytes([header[0], header[1]]));
            let width = u32::from(u16::from_be_bytes([header[2], header[3]]));
            if width == 0 || height == 0 {
                return Err(JpegError::NoFrameHeader);
            }
            return Ok((width, height));
        }
        // Start of scan: entropy-coded data follows; no frame header came first.
        if marker == 0xDA || length < 2 {
            return Err(JpegError::NoFrameHeader);
        }
        at += 2 + length;
    }
    Err(JpegError::NoFrameHeader)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The smallest JPEG-shaped bytes with a frame header of `width`x`height`
    /// (not decodable: no scan), for tests of the plumbing.
    pub fn jpeg_header(width: u16, height: u16) -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xD8];
        // APP0 "JFIF", 16 bytes long.
        bytes.extend([0xFF, 0xE0, 0x00, 0x10]);
        bytes.extend(b"JFIF\0");
        bytes.extend([1, 1, 0, 0, 1, 0, 1, 0, 0]);
        bytes.extend([0xFF, 0xC0, 0x00, 0x11, 8]);
        bytes.extend(height.to_be_bytes());
        bytes.extend(width.to_be_bytes());
        bytes.extend([3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        bytes.extend([0xFF, 0xD9]);
        bytes
    }

    #[test]
    fn reads_the_size_from_the_frame_header() {
        assert_eq!(jpeg_size(&jpeg_header(2560, 1440)), Ok((2560, 1440)));
        assert_eq!(jpeg_size(b"\x89PNG\r\n\x1a\n"), Err(JpegError::NotJpeg));
        assert_eq!(
            jpeg_size(&[0xFF, 0xD8, 0xFF, 0xDA, 0, 2]),
            Err(JpegError::NoFrameHeader)
        );
        let mut cut = jpeg_header(64, 48);
        cut.truncate(20);
        assert_eq!(jpeg_size(&cut), Err(JpegError::NoFrameHeader));
    }

    #[test]
    fn a_room_keeps_its_newest_photos_until_it_ends() {
        let store = PhotoStore::new(2);
        let room = RoomId::parse("ward").unwrap();
        let photo = |id: &str| Photo {
            id: id.into(),
            jpeg: Bytes::from_static(b"x"),
            width: 1,
            height: 1,
            captured_at_ms: 0,
        };
        for id in ["a", "b", "c"] {
            store.add(&room, photo(id));
        }
        assert!(store.get(&room, "a").is_none());
        assert!(store.get(&room, "c").is_some());
        store.clear_room(&room);
        assert!(store.get(&room, "c").is_none());
        assert!(new_photo_id().chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
