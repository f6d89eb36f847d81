//! Still photos of a consultation, in memory for the room's lifetime.
//!
//! The camera uploads a JPEG after a specialist asked for one; the
//! specialists of the room fetch it. Photos are patient information: they
//! are never written to disk, never logged, and are dropped when the room
//! ends or expires (or, beyond `limits.max_photos_per_room`, oldest first).
//!
//! What is kept is a picture: every upload is decoded ([`check_jpeg`])
//! before it is stored, so nothing else can be served back as `image/jpeg`.
//! All rooms' photos together stay within one memory budget
//! (`limits.max_photo_memory_bytes`): an upload that would go beyond it is
//! refused, rather than the gateway running out of memory in the middle of
//! every consultation.

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

/// Uploads decoded at once, gateway-wide: each decode holds up to
/// [`MAX_PHOTO_PIXELS`] bytes for a moment, and a burst of uploads must not
/// add those up.
const DECODES_AT_ONCE: usize = 2;

/// The photos of every room.
#[derive(Debug)]
pub struct PhotoStore {
    max_per_room: usize,
    /// Bytes all rooms' photos may take together.
    memory_budget: usize,
    inner: Mutex<Stored>,
    decoding: tokio::sync::Semaphore,
}

#[derive(Debug, Default)]
struct Stored {
    rooms: HashMap<RoomId, VecDeque<Arc<Photo>>>,
    /// The JPEG bytes held, all rooms together.
    bytes: usize,
}

/// Why a photo was not kept: the gateway's photo memory is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryFull {
    pub budget: usize,
}

impl PhotoStore {
    pub fn new(max_per_room: usize, memory_budget: usize) -> Self {
        Self {
            max_per_room: max_per_room.max(1),
            memory_budget,
            inner: Mutex::new(Stored::default()),
            decoding: tokio::sync::Semaphore::new(DECODES_AT_ONCE),
        }
    }

    /// Checks an upload with [`check_jpeg`], off the async threads and at
    /// most [`DECODES_AT_ONCE`] at a time.
    pub async fn check_upload(&self, jpeg: Bytes) -> Result<(u32, u32), JpegError> {
        // The semaphore is never closed; a decoder that panics refuses the
        // upload like any other picture that does not decode.
        let failed = || JpegError::Undecodable("the decoder failed on it".to_owned());
        let _turn = self.decoding.acquire().await.map_err(|_| failed())?;
        tokio::task::spawn_blocking(move || check_jpeg(&jpeg))
            .await
            .map_err(|_| failed())?
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Stored> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `photo` for `room`, dropping the room's oldest beyond the
    /// limit per room; refused if the gateway's photos would then take more
    /// than the memory budget (the room's oldest photo, which would go
    /// anyway, counts as freed).
    pub fn add(&self, room: &RoomId, photo: Photo) -> Result<Arc<Photo>, MemoryFull> {
        let photo = Arc::new(photo);
        let mut stored = self.lock();
        let room_full = stored
            .rooms
            .get(room)
            .is_some_and(|photos| photos.len() >= self.max_per_room);
        let freed = if room_full {
            stored
                .rooms
                .get(room)
                .and_then(|photos| photos.front())
                .map_or(0, |oldest| oldest.jpeg.len())
        } else {
            0
        };
        if stored.bytes - freed + photo.jpeg.len() > self.memory_budget {
            return Err(MemoryFull {
                budget: self.memory_budget,
            });
        }
        let Stored { rooms, bytes } = &mut *stored;
        let photos = rooms.entry(room.clone()).or_default();
        photos.push_back(photo.clone());
        *bytes += photo.jpeg.len();
        while photos.len() > self.max_per_room {
            if let Some(dropped) = photos.pop_front() {
                *bytes -= dropped.jpeg.len();
            }
        }
        Ok(photo)
    }

    pub fn get(&self, room: &RoomId, id: &str) -> Option<Arc<Photo>> {
        self.lock()
            .rooms
            .get(room)
            .and_then(|photos| photos.iter().find(|p| p.id == id).cloned())
    }

    /// Drops every photo of `room`.
    pub fn clear_room(&self, room: &RoomId) {
        let mut stored = self.lock();
        if let Some(photos) = stored.rooms.remove(room) {
            stored.bytes -= photos.iter().map(|p| p.jpeg.len()).sum::<usize>();
        }
    }

    /// The rooms that hold photos.
    pub fn rooms(&self) -> HashSet<RoomId> {
        self.lock().rooms.keys().cloned().collect()
    }

    /// The JPEG bytes held now, all rooms together.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
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
    #[error(
        "the picture is {width}x{height}, more than the {MAX_PHOTO_PIXELS} pixels \
         (and {MAX_PHOTO_SIDE} per side) a photo may have"
    )]
    TooManyPixels { width: u32, height: u32 },
    #[error("it does not decode as a JPEG picture: {0}")]
    Undecodable(String),
}

/// Most pixels a photo may have: above a 4K camera's 8.3 million, below
/// what would make checking one a burden (it is decoded to grey, one byte a
/// pixel).
pub const MAX_PHOTO_PIXELS: u64 = 40_000_000;
/// Longest side a photo may have, in pixels.
pub const MAX_PHOTO_SIDE: u32 = 8192;

/// Checks that `jpeg` is a whole JPEG picture by decoding it (strictly: a
/// cut-off or corrupt scan is refused, not patched up), and returns its
/// width and height. Costs a decode; run it off the async threads.
pub fn check_jpeg(jpeg: &[u8]) -> Result<(u32, u32), JpegError> {
    use zune_jpeg::JpegDecoder;
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;

    let (width, height) = jpeg_size(jpeg)?;
    if width > MAX_PHOTO_SIDE
        || height > MAX_PHOTO_SIDE
        || u64::from(width) * u64::from(height) > MAX_PHOTO_PIXELS
    {
        return Err(JpegError::TooManyPixels { width, height });
    }
    let side = MAX_PHOTO_SIDE as usize;
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(side)
        .set_max_height(side)
        .jpeg_set_out_colorspace(ColorSpace::Luma);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
    decoder
        .decode()
        .map_err(|err| JpegError::Undecodable(err.to_string()))?;
    match decoder.info() {
        Some(info) if (u32::from(info.width), u32::from(info.height)) == (width, height) => {
            Ok((width, height))
        }
        _ => Err(JpegError::Undecodable(
            "its size differs from its frame header".to_owned(),
        )),
    }
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

    /// A real, decodable JPEG of `width`x`height`.
    pub fn real_jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut out = Vec::new();
        let pixels = vec![128u8; usize::from(width) * usize::from(height)];
        jpeg_encoder::Encoder::new(&mut out, 80)
            .encode(&pixels, width, height, jpeg_encoder::ColorType::Luma)
            .unwrap();
        out
    }

    #[test]
    fn only_a_picture_that_decodes_passes() {
        assert_eq!(check_jpeg(&real_jpeg(64, 48)), Ok((64, 48)));
        // A frame header followed by a page is not a picture.
        let mut html = jpeg_header(64, 48);
        html.truncate(html.len() - 2);
        html.extend(b"<html><script>alert(1)</script></html>");
        assert!(matches!(check_jpeg(&html), Err(JpegError::Undecodable(_))));
        // Cut short.
        let whole = real_jpeg(64, 48);
        assert!(check_jpeg(&whole[..whole.len() / 2]).is_err());
        // A header claiming a huge picture is refused before decoding.
        assert_eq!(
            check_jpeg(&jpeg_header(10_000, 10_000)),
            Err(JpegError::TooManyPixels {
                width: 10_000,
                height: 10_000
            })
        );
    }

    #[test]
    fn all_rooms_photos_stay_within_the_memory_budget() {
        let store = PhotoStore::new(2, 10);
        let (a, b) = (
            RoomId::parse("ward").unwrap(),
            RoomId::parse("other").unwrap(),
        );
        let photo = |id: &str, bytes: usize| Photo {
            id: id.into(),
            jpeg: Bytes::from(vec![0; bytes]),
            width: 1,
            height: 1,
            captured_at_ms: 0,
        };
        store.add(&a, photo("a1", 4)).unwrap();
        store.add(&a, photo("a2", 4)).unwrap();
        assert_eq!(
            store.add(&b, photo("b1", 4)),
            Err(MemoryFull { budget: 10 }),
            "another room's photo beyond the budget is refused"
        );
        // Room a's third replaces its first: that fits.
        store.add(&a, photo("a3", 6)).unwrap();
        assert_eq!(store.bytes(), 10);
        store.clear_room(&a);
        assert_eq!(store.bytes(), 0);
        store.add(&b, photo("b1", 4)).unwrap();
    }

    #[test]
    fn a_room_keeps_its_newest_photos_until_it_ends() {
        let store = PhotoStore::new(2, 1 << 20);
        let room = RoomId::parse("ward").unwrap();
        let photo = |id: &str| Photo {
            id: id.into(),
            jpeg: Bytes::from_static(b"x"),
            width: 1,
            height: 1,
            captured_at_ms: 0,
        };
        for id in ["a", "b", "c"] {
            store.add(&room, photo(id)).unwrap();
        }
        assert!(store.get(&room, "a").is_none());
        assert!(store.get(&room, "c").is_some());
        store.clear_room(&room);
        assert!(store.get(&room, "c").is_none());
        assert!(new_photo_id().chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
