//! `samsyn-gateway room …`: rooms from the command line.

use anyhow::Context;
use samsyn_config::GatewayConfig;
use samsyn_signaling::{SignalingSettings, TokenAuthority, create_room};

/// Creates a room and prints its invite. Tokens are self-contained and
/// signed with the key in the data directory, so a running gateway accepts
/// them without being told.
pub fn create(config: &GatewayConfig, json: bool) -> anyhow::Result<()> {
    let settings = SignalingSettings::from(config);
    let tokens = TokenAuthority::load_or_create(&config.data_dir).with_context(|| {
        format!(
            "cannot use the data directory {}; check it exists and is writable, or set --data-dir",
            config.data_dir.display()
        )
    })?;
    let invite = create_room(&tokens, &settings, settings.token_ttl);
    if json {
        println!("{}", serde_json::to_string(&invite)?);
    } else {
        println!("Room {} (valid until {})", invite.room, invite.expires_at);
        println!();
        println!("Specialists open:  {}", invite.viewer_link);
        println!("Camera publishes:  {}", invite.whip_url);
        println!(
            "Capture daemon:    samsyn-capture --gateway {} --room {} --token {}",
            settings.public_base_url.as_str().trim_end_matches('/'),
            invite.room,
            invite.publisher_token
        );
        println!();
        println!("Send the link only to the people in this consultation.");
    }
    Ok(())
}
