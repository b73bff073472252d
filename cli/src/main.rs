//! weftctl: parse, run, map the error to an exit code (see `weftctl::run`).

fn main() -> std::process::ExitCode {
    weftctl::run(std::env::args_os())
}
