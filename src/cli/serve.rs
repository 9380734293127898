//! `difflab serve`: the lab in the browser.

use crate::cli::Global;
use crate::serve::{start, ServeConfig, DEFAULT_ADDR};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Options of `difflab serve`.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on. The default is loopback only; port 0 picks a free port.
    #[arg(long, value_name = "IP:PORT", default_value = DEFAULT_ADDR)]
    pub addr: SocketAddr,
    /// Folder for everything the page creates: trained models, uploads, the answers.
    #[arg(long, value_name = "DIR", default_value = "lab8-out/serve")]
    pub data: PathBuf,
    /// A trained model folder (from `difflab train`) to offer besides those trained here.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Training jobs run at once (the rest wait in a queue).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub train_jobs: usize,
    /// Sampling jobs run at once (the rest wait in a queue).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub sample_jobs: usize,
}

/// Run `difflab serve` until Ctrl-C.
pub fn run(args: ServeArgs, global: &Global) -> crate::Result<()> {
    if !args.addr.ip().is_loopback() {
        eprintln!(
            "warning: listening on {}: anyone who can reach this machine can use the lab",
            args.addr
        );
    }
    let server = start(ServeConfig {
        addr: args.addr,
        data_dir: args.data.clone(),
        model_dir: args.model,
        mnist_dir: global.mnist_dir.clone(),
        train_slots: args.train_jobs.max(1),
        sample_slots: args.sample_jobs.max(1),
        stop_on_ctrl_c: true,
    })?;
    println!(
        "difflab serve: open {} (files in {}; Ctrl-C stops)",
        server.url(),
        args.data.display()
    );
    server.wait();
    Ok(())
}
