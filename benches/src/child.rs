//! A child process (a gateway, a capture daemon) that is stopped with
//! SIGTERM, then killed after 5 s, when dropped: a measurement that fails
//! half-way leaves nothing running.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::Context;

/// A running child process, stopped when dropped.
pub struct Process {
    child: Child,
}

impl Process {
    /// Starts `command`, with its standard streams as the command sets them.
    pub fn spawn(command: &mut Command) -> anyhow::Result<Self> {
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {:?}", command.get_program()))?;
        Ok(Self { child })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
