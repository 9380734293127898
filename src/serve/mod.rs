//! `difflab serve`: the lab in the browser, computed by difflab's own core.
//!
//! An axum server on tokio, bound to loopback by default, serving one page (assets embedded in
//! the binary) and a JSON API: Module 1 live (x_t for any t, schedule and seed), training and
//! sampling jobs on a bounded worker pool with progress as server-sent events, and the answer
//! sheet saved as the student types. Everything a request writes goes under `--data`.
//!
//! ```no_run
//! use difflab::serve::{start, ServeConfig};
//! let server = start(ServeConfig::new("/tmp/lab".into()))?; // 127.0.0.1, an ephemeral port
//! println!("{}", server.url());
//! server.stop();
//! # Ok::<(), difflab::Error>(())
//! ```
//!
//! Files: [`lab_api`] (every call into the library), [`routes`] (the HTTP API), [`forward`]
//! (Module 1), [`work`] (training and sampling jobs), [`jobs`] (the pool), [`stream`] (SSE),
//! [`models`], [`answers`], [`assets`], [`error`].

pub mod answers;
pub mod assets;
pub mod error;
pub mod forward;
pub mod jobs;
pub mod lab_api;
pub mod models;
pub mod routes;
pub mod stream;
pub mod work;

use lab_api::{LabError, LabResult};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The default address: loopback only, port 8008.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8008";

/// How to run the server.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Where to listen (port 0: any free port).
    pub addr: SocketAddr,
    /// The folder every request's files go under (models, uploads, answers).
    pub data_dir: PathBuf,
    /// A trained model folder to offer besides those trained here.
    pub model_dir: Option<PathBuf>,
    /// MNIST's folder (else difflab's usual lookup).
    pub mnist_dir: Option<PathBuf>,
    /// Training jobs run at once.
    pub train_slots: usize,
    /// Sampling jobs run at once.
    pub sample_slots: usize,
    /// Stop on Ctrl-C (the command line; tests stop with [`RunningServer::stop`]).
    pub stop_on_ctrl_c: bool,
}

impl ServeConfig {
    /// Loopback on an ephemeral port, files under `data_dir`, one job of each kind at a time.
    pub fn new(data_dir: PathBuf) -> Self {
        ServeConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            model_dir: None,
            mnist_dir: None,
            train_slots: 1,
            sample_slots: 1,
            stop_on_ctrl_c: false,
        }
    }
}

/// One of Module 1's schedules, built once.
pub struct Schedule {
    /// `linear` or `cosine`.
    pub name: &'static str,
    /// The schedule.
    pub schedule: lab_api::NoiseSchedule,
}

/// Everything the handlers share.
pub struct AppState {
    /// The configuration.
    pub cfg: ServeConfig,
    schedules: Vec<Arc<Schedule>>,
    mnist: Mutex<Option<Arc<lab_api::Mnist>>>,
    /// Uploaded pictures.
    pub uploads: forward::Uploads,
    /// The answer sheet.
    pub answers: answers::AnswerStore,
    /// Trained models.
    pub models: models::Models,
    /// The job pool.
    pub pool: Arc<jobs::Pool>,
    /// Becomes true when the server stops (open streams end).
    pub shutdown: watch::Receiver<bool>,
}

impl AppState {
    /// Module 1's schedule named `name` (`cosine` or diffusers' `squaredcos_cap_v2`, `linear`).
    pub fn schedule(&self, name: &str) -> Option<Arc<Schedule>> {
        let name = if name == "squaredcos_cap_v2" {
            "cosine"
        } else {
            name
        };
        self.schedules.iter().find(|s| s.name == name).cloned()
    }
    /// The MNIST training split, loaded on first use (blocking: call from a blocking thread).
    pub fn mnist(&self) -> Result<Arc<lab_api::Mnist>, error::ApiError> {
        let mut g = self.mnist.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = g.as_ref() {
            return Ok(m.clone());
        }
        let m = Arc::new(lab_api::load_mnist_train(self.cfg.mnist_dir.as_deref())?);
        *g = Some(m.clone());
        Ok(m)
    }
}

/// A running server: its address, and [`RunningServer::stop`] to end it.
pub struct RunningServer {
    addr: SocketAddr,
    stop: Arc<watch::Sender<bool>>,
    pool: Arc<jobs::Pool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `http://ADDR/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
    /// Cancel every job, end the open streams, and wait until the server has stopped.
    pub fn stop(mut self) {
        self.pool.cancel_all();
        self.stop.send_replace(true);
        self.join_thread();
    }
    /// Wait until the server stops (Ctrl-C when `stop_on_ctrl_c`).
    pub fn wait(mut self) {
        self.join_thread();
    }
    fn join_thread(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.pool.cancel_all();
        self.stop.send_replace(true);
        self.join_thread();
    }
}

fn build_state(cfg: ServeConfig, shutdown: watch::Receiver<bool>) -> LabResult<AppState> {
    std::fs::create_dir_all(&cfg.data_dir).map_err(|e| LabError::io(&cfg.data_dir, e))?;
    let (t, _, _) = lab_api::forward_defaults();
    let schedules = [("linear", "linear"), ("cosine", "squaredcos_cap_v2")]
        .into_iter()
        .map(|(name, kind)| {
            Ok(Arc::new(Schedule {
                name,
                schedule: lab_api::schedule(kind, t)?,
            }))
        })
        .collect::<LabResult<Vec<_>>>()?;
    Ok(AppState {
        schedules,
        mnist: Mutex::new(None),
        uploads: forward::Uploads::new(cfg.data_dir.join("uploads")),
        answers: answers::AnswerStore::open(&cfg.data_dir)?,
        models: models::Models::new(cfg.data_dir.join("models"), cfg.model_dir.clone()),
        pool: Arc::new(jobs::Pool::new(cfg.train_slots, cfg.sample_slots)),
        shutdown,
        cfg,
    })
}

/// Start the server on its own thread (with its own tokio runtime) and return once it
/// listens. Errors: the data folder cannot be made, the answers file is damaged, the address
/// is taken.
pub fn start(cfg: ServeConfig) -> LabResult<RunningServer> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop = Arc::new(stop_tx);
    let ctrl_c = cfg.stop_on_ctrl_c;
    let addr = cfg.addr;
    let state = Arc::new(build_state(cfg, stop_rx.clone())?);
    let pool = state.pool.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| lab_api::invalid(format!("could not start the server's runtime: {e}")))?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(addr))
        .map_err(|e| lab_api::invalid(format!("could not listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| lab_api::invalid(format!("could not read the bound address: {e}")))?;
    let (stop2, pool2) = (stop.clone(), pool.clone());
    let thread = std::thread::Builder::new()
        .name("difflab-serve".into())
        .spawn(move || {
            runtime.block_on(serve(listener, state, stop2, stop_rx, ctrl_c));
            pool2.cancel_all();
            runtime.shutdown_timeout(std::time::Duration::from_secs(30));
        })
        .map_err(|e| lab_api::invalid(format!("could not start the server thread: {e}")))?;
    Ok(RunningServer {
        addr: bound,
        stop,
        pool,
        thread: Some(thread),
    })
}

async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    stop: Arc<watch::Sender<bool>>,
    mut stop_rx: watch::Receiver<bool>,
    ctrl_c: bool,
) {
    let pool = state.pool.clone();
    // Read MNIST now, so that the first slider move does not wait for it.
    let warm = state.clone();
    tokio::task::spawn_blocking(move || {
        let _ = warm.mnist();
    });
    let app = routes::router(state);
    let shutdown = async move {
        tokio::select! {
            _ = stop_rx.wait_for(|s| *s) => {}
            _ = async { if ctrl_c { let _ = tokio::signal::ctrl_c().await; } else { std::future::pending::<()>().await } } => {
                eprintln!("difflab serve: stopping");
            }
        }
        pool.cancel_all();
        stop.send_replace(true);
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("difflab serve: {e}");
    }
}
