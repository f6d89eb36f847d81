//! The nurse screen: a page the daemon serves on 127.0.0.1 for the nurse
//! to read from across the room.
//!
//! [`view`] is what the screen shows and what it may ask; [`server`]
//! serves the page and its WebSocket to her browser alone (`gate` checks
//! every request, `socket` runs each open page's WebSocket); the page
//! itself lives in `capture/web/screen/` and is built in (`assets`).

mod assets;
mod gate;
pub mod server;
mod socket;
pub mod view;

pub use server::{ScreenError, ScreenServer, serve};
pub use view::{ScreenCommand, ScreenFeed, ScreenLink, ScreenView};
