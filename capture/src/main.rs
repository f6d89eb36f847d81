//! `samsyn-capture`: publish the nurse's head camera to the gateway.
//! Everything but argument handling lives in the library.

fn main() -> std::process::ExitCode {
    samsyn_capture::cli::main()
}
