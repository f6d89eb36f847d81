//! Life under systemd's `Type=notify` (see `deploy/systemd/`): the gateway
//! says when it is ready, proves it is alive, and says when it stops.
//!
//! - [`ready`] sends `READY=1` once the HTTPS listener and the media port are
//!   both bound, so `systemctl start` returns (and units ordered after the
//!   gateway start) only when clients can connect.
//! - [`spawn_watchdog`] sends `WATCHDOG=1` every half of `WATCHDOG_USEC`
//!   (`WatchdogSec=`), but only while the media loop still turns (its
//!   [`Heartbeat`](crate::media::heartbeat::Heartbeat)): a loop stuck in one
//!   call leaves every stream standing still while HTTPS keeps answering,
//!   so a process that merely runs is not proof enough. Withholding the
//!   pings has systemd restart the gateway.
//! - [`stopping`] sends `STOPPING=1` when the shutdown begins.
//!
//! Outside systemd (`NOTIFY_SOCKET` and `WATCHDOG_USEC` unset) every call
//! returns at once and no task is spawned.

use std::time::Duration;

use sd_notify::NotifyState;

/// Tells systemd the gateway is ready, with `status` for `systemctl status`.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Tells systemd the gateway has begun to shut down.
pub fn stopping() {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status("stopping: ending sessions"),
    ]);
}

/// Starts pinging systemd's watchdog, when `WatchdogSec=` asked for it,
/// for as long as `loop_silence` says the media loop turns.
///
/// `loop_silence` tells how long ago the media loop last turned, or `None`
/// once the loop has ended for good (its thread returned or panicked).
/// Returns `None`, spawning nothing, when systemd asked for no watchdog.
pub fn spawn_watchdog<F>(loop_silence: F) -> Option<tokio::task::JoinHandle<()>>
where
    F: Fn() -> Option<Duration> + Send + 'static,
{
    let watchdog = Watchdog::new(sd_notify::watchdog_enabled()?)?;
    Some(tokio::spawn(watchdog.run(loop_silence)))
}

/// When to ping, for one `WATCHDOG_USEC`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Watchdog {
    /// systemd restarts the service when no ping came for this long.
    timeout: Duration,
    /// Pings are held back since the loop was last found silent.
    withheld: bool,
}

/// What one look at the media loop leads to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    /// The loop turns: ping.
    Ping,
    /// The loop turns again after a stall: say so, and ping.
    Resumed,
    /// The loop has just been found stuck (`Some(silence)`) or ended
    /// (`None`): say so once, and ping no more.
    Withhold(Option<Duration>),
    /// The loop is still stuck or ended: nothing to send.
    StillWithheld,
}

impl Watchdog {
    /// `None` for a zero timeout, which systemd never sends for an enabled
    /// watchdog: nothing to ping.
    fn new(timeout: Duration) -> Option<Self> {
        (!timeout.is_zero()).then_some(Self {
            timeout,
            withheld: false,
        })
    }

    /// Half the timeout, as `sd_watchdog_enabled(3)` advises, so one late
    /// ping does not cost a restart.
    fn ping_interval(&self) -> Duration {
        self.timeout / 2
    }

    /// Whether a loop silent for `silence` (`None`: ended) earns a ping.
    ///
    /// A loop that turned within one timeout is alive: pauses shorter than
    /// that (a slow disk write, a busy machine) never restart the service,
    /// and a loop stuck for good is restarted at most two timeouts after it
    /// stopped turning. An ended loop never comes back, so it gets none.
    fn earns_ping(&self, silence: Option<Duration>) -> bool {
        silence.is_some_and(|silence| silence < self.timeout)
    }

    /// One look at a loop silent for `silence`, every [`Self::ping_interval`].
    fn check(&mut self, silence: Option<Duration>) -> Verdict {
        match (self.earns_ping(silence), self.withheld) {
            (true, false) => Verdict::Ping,
            (true, true) => {
                self.withheld = false;
                Verdict::Resumed
            }
            (false, false) => {
                self.withheld = true;
                Verdict::Withhold(silence)
            }
            (false, true) => Verdict::StillWithheld,
        }
    }

    async fn run<F>(mut self, loop_silence: F)
    where
        F: Fn() -> Option<Duration>,
    {
        let mut ticks = tokio::time::interval(self.ping_interval());
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.check(loop_silence()) {
                Verdict::Ping => send(&[NotifyState::Watchdog]),
                Verdict::Resumed => {
                    tracing::warn!("the media loop turns again; watchdog pings resume");
                    send(&[
                        NotifyState::Watchdog,
                        NotifyState::Status("serving; the media loop turns again"),
                    ]);
                }
                Verdict::Withhold(silence) => {
                    match silence {
                        Some(silence) => tracing::error!(
                            "the media loop has not turned for {:.1} s: watchdog pings \
                             withheld, systemd restarts the gateway unless the loop turns again",
                            silence.as_secs_f64()
                        ),
                        None => tracing::error!(
                            "the media loop has ended: watchdog pings withheld, systemd \
                             restarts the gateway"
                        ),
                    }
                    send(&[NotifyState::Status(
                        "media loop stalled: waiting for the watchdog restart",
                    )]);
                }
                Verdict::StillWithheld => {}
            }
        }
    }
}

/// Sends `states` to systemd; nothing without `NOTIFY_SOCKET`. A failure
/// is logged and not fatal: the gateway serves on, and systemd itself
/// reports the missing notification (start timeout, watchdog).
fn send(states: &[NotifyState<'_>]) {
    if let Err(err) = sd_notify::notify(states) {
        tracing::warn!(
            "cannot notify systemd through NOTIFY_SOCKET ({err}); check that the unit's \
             Type=notify and the socket's permissions match"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWENTY_SECONDS: Duration = Duration::from_secs(20);

    #[test]
    fn pings_come_at_half_the_timeout() {
        let watchdog = Watchdog::new(TWENTY_SECONDS).unwrap();
        assert_eq!(watchdog.ping_interval(), Duration::from_secs(10));
        assert_eq!(Watchdog::new(Duration::ZERO), None);
    }

    #[test]
    fn a_loop_that_turned_within_the_timeout_earns_a_ping() {
        let watchdog = Watchdog::new(TWENTY_SECONDS).unwrap();
        assert!(watchdog.earns_ping(Some(Duration::ZERO)));
        assert!(watchdog.earns_ping(Some(Duration::from_millis(19_999))));
        assert!(!watchdog.earns_ping(Some(TWENTY_SECONDS)));
        assert!(!watchdog.earns_ping(Some(Duration::from_secs(600))));
    }

    #[test]
    fn an_ended_loop_earns_none() {
        let watchdog = Watchdog::new(TWENTY_SECONDS).unwrap();
        assert!(!watchdog.earns_ping(None));
    }

    /// A simulated clock, ticking at the ping interval: the loop turns
    /// until it sticks at 5 s; the pings stop within one timeout of that,
    /// so systemd restarts the gateway, and resume if the loop comes back.
    #[test]
    fn a_stuck_loop_stops_the_pings_within_one_timeout() {
        let mut watchdog = Watchdog::new(Duration::from_secs(2)).unwrap();
        let stuck = Duration::from_secs(5)..Duration::from_secs(12);
        let mut pings = Vec::new();
        let mut verdicts = Vec::new();
        let mut now = Duration::ZERO;
        while now < Duration::from_secs(16) {
            let last_turn = if stuck.contains(&now) {
                stuck.start
            } else {
                now
            };
            let verdict = watchdog.check(Some(now - last_turn));
            if matches!(verdict, Verdict::Ping | Verdict::Resumed) {
                pings.push(now);
            }
            verdicts.push((now, verdict));
            now += watchdog.ping_interval();
        }
        let seconds = |s: u64| Duration::from_secs(s);
        assert_eq!(
            pings,
            [0, 1, 2, 3, 4, 5, 6, 12, 13, 14, 15].map(seconds),
            "{verdicts:?}"
        );
        // Between the last ping before the stall and the next: longer than
        // the timeout, so systemd has acted.
        assert!(seconds(12) - seconds(6) > watchdog.timeout);
        assert_eq!(
            verdicts[7],
            (seconds(7), Verdict::Withhold(Some(seconds(2))))
        );
        assert_eq!(verdicts[8], (seconds(8), Verdict::StillWithheld));
        assert_eq!(verdicts[12], (seconds(12), Verdict::Resumed));
    }

    #[test]
    fn an_ended_loop_is_reported_once() {
        let mut watchdog = Watchdog::new(TWENTY_SECONDS).unwrap();
        assert_eq!(watchdog.check(Some(Duration::ZERO)), Verdict::Ping);
        assert_eq!(watchdog.check(None), Verdict::Withhold(None));
        assert_eq!(watchdog.check(None), Verdict::StillWithheld);
    }
}
