//! DDPM and DDIM schedulers against diffusers: timesteps exactly, whole sampling loops to 1e-4,
//! and diffusers' own deterministic DDIM test constants.

mod common;
use difflab::schedulers::{
    DdimConfig, DdimScheduler, DdpmConfig, DdpmScheduler, PredictionType, Scheduler,
    TimestepSpacing, VarianceType,
};
use serde_json::Value;

fn spacing(name: &str) -> TimestepSpacing {
    serde_json::from_value(Value::String(name.into())).unwrap()
}

/// diffusers' test stand-in model: model(x, t) = x·t/(t+1), in f32.
fn stand_in(x: &[f32], t: usize) -> Vec<f32> {
    let t = t as f32;
    x.iter().map(|&v| v * t / (t + 1.0)).collect()
}

#[test]
fn timesteps_match_diffusers_exactly_for_every_entry() {
    let fx = common::read_fixture("timesteps.safetensors");
    let manifest = common::manifest();
    let entries = manifest["files"]["timesteps.safetensors"]["entries"]
        .as_array()
        .unwrap();
    assert_eq!(entries.len(), 42);
    for e in entries {
        let key = e["key"].as_str().unwrap();
        let t_train = e["num_train_timesteps"].as_u64().unwrap() as usize;
        let n = e["num_inference_steps"].as_u64().unwrap() as usize;
        let sp = spacing(e["timestep_spacing"].as_str().unwrap());
        let mut s: Box<dyn Scheduler> = match e["scheduler"].as_str().unwrap() {
            "ddpm" => Box::new(
                DdpmScheduler::new(DdpmConfig {
                    num_train_timesteps: t_train,
                    timestep_spacing: sp,
                    ..Default::default()
                })
                .unwrap(),
            ),
            "ddim" => Box::new(
                DdimScheduler::new(DdimConfig {
                    num_train_timesteps: t_train,
                    timestep_spacing: sp,
                    ..Default::default()
                })
                .unwrap(),
            ),
            other => panic!("unknown scheduler {other}"),
        };
        s.set_timesteps(n).unwrap();
        let want: Vec<usize> = fx[key].data.iter().map(|&v| v as usize).collect();
        assert_eq!(s.timesteps(), &want[..], "{key}");
    }
}

/// Run one fixture loop and return the largest absolute error over the whole trajectory.
fn run_loop(fx: &std::collections::HashMap<String, common::Fx>, e: &Value) -> f64 {
    let name = e["name"].as_str().unwrap();
    let t_train = e["T"].as_u64().unwrap() as usize;
    let n = e["n"].as_u64().unwrap() as usize;
    let sp = spacing(e["spacing"].as_str().unwrap());
    let clip_sample = e["clip_sample"].as_bool().unwrap();
    let prediction_type: PredictionType =
        serde_json::from_value(e["prediction_type"].clone()).unwrap();
    let mut sched: Box<dyn Scheduler> = match e["cls"].as_str().unwrap() {
        "ddpm" => {
            let variance_type: VarianceType =
                serde_json::from_value(e["variance_type"].clone()).unwrap();
            Box::new(
                DdpmScheduler::new(DdpmConfig {
                    num_train_timesteps: t_train,
                    timestep_spacing: sp,
                    clip_sample,
                    prediction_type,
                    variance_type,
                    ..Default::default()
                })
                .unwrap(),
            )
        }
        "ddim" => {
            let mut s = DdimScheduler::new(DdimConfig {
                num_train_timesteps: t_train,
                timestep_spacing: sp,
                clip_sample,
                prediction_type,
                ..Default::default()
            })
            .unwrap();
            s.set_eta(e["eta"].as_f64().unwrap() as f32).unwrap();
            Box::new(s)
        }
        other => panic!("unknown scheduler {other}"),
    };
    sched.set_timesteps(n).unwrap();
    let want_ts: Vec<usize> = fx[&format!("{name}.timesteps")]
        .data
        .iter()
        .map(|&v| v as usize)
        .collect();
    assert_eq!(sched.timesteps(), &want_ts[..], "{name} timesteps");

    let mut x = fx[&format!("{name}.x0")].f32s();
    let mut worst = 0.0f64;
    let ts = sched.timesteps().to_vec();
    for (k, &t) in ts.iter().enumerate() {
        let out = stand_in(&x, t);
        let noise = fx.get(&format!("{name}.noise.{k}")).map(|f| f.f32s());
        if sched.noise_needed(t).unwrap() {
            assert!(
                noise.is_some(),
                "{name}: step {k} needs noise the fixture did not draw"
            );
        }
        let step = sched.step(&out, t, &x, noise.as_deref()).unwrap();
        x = step.prev_sample;
        let want = &fx[&format!("{name}.traj.{k}")].data;
        for (a, b) in x.iter().zip(want) {
            worst = worst.max((*a as f64 - b).abs());
        }
    }
    let out = &fx[&format!("{name}.out")].data;
    for (a, b) in x.iter().zip(out) {
        worst = worst.max((*a as f64 - b).abs());
    }
    worst
}

#[test]
fn every_fixture_loop_matches_diffusers_to_1e4_over_the_whole_trajectory() {
    let fx = common::read_fixture("loops.safetensors");
    let manifest = common::manifest();
    let entries = manifest["files"]["loops.safetensors"]["entries"]
        .as_array()
        .unwrap();
    assert_eq!(entries.len(), 8);
    let mut report = Vec::new();
    for e in entries {
        let worst = run_loop(&fx, e);
        report.push(format!("{}: {worst:.2e}", e["name"].as_str().unwrap()));
        assert!(
            worst <= 1e-4,
            "{}: max abs error {worst} over the trajectory",
            e["name"]
        );
    }
    eprintln!("max abs error per loop: {}", report.join(", "));
}

/// diffusers' tests/schedulers/test_scheduler_ddim.py `full_loop`: T = 1000 linear
/// 1e-4..0.02, clip_sample, 10 steps, eta 0, the stand-in model, sample k/768 in (4, 3, 8, 8).
fn ddim_full_loop(config: DdimConfig) -> (f64, f64) {
    let mut s = DdimScheduler::new(config).unwrap();
    s.set_timesteps(10).unwrap();
    // dummy_sample_deter: arange(768) reshaped (C, H, W, B) and permuted to (B, C, H, W); the
    // loop is elementwise, so the layout of the values does not change the sums.
    let mut x: Vec<f32> = (0..768).map(|k| k as f32 / 768.0).collect();
    let ts = s.timesteps().to_vec();
    for t in ts {
        let out = stand_in(&x, t);
        x = s.step(&out, t, &x, None).unwrap().prev_sample;
    }
    let sum: f64 = x.iter().map(|v| v.abs() as f64).sum();
    (sum, sum / x.len() as f64)
}

fn ddim_test_config() -> DdimConfig {
    DdimConfig {
        num_train_timesteps: 1000,
        beta_start: 0.0001,
        beta_end: 0.02,
        clip_sample: true,
        ..Default::default()
    }
}

fn assert_sum_mean(what: &str, got: (f64, f64), sum: f64, mean: f64) {
    // diffusers asserts |sum − expected| < 1e-2 and |mean − expected| < 1e-3.
    assert!(
        (got.0 - sum).abs() < 1e-2,
        "{what}: sum |x| = {} (diffusers {sum})",
        got.0
    );
    assert!(
        (got.1 - mean).abs() < 1e-3,
        "{what}: mean |x| = {} (diffusers {mean})",
        got.1
    );
}

#[test]
fn ddim_full_loop_constants_of_diffusers_tests() {
    assert_sum_mean(
        "eta 0",
        ddim_full_loop(ddim_test_config()),
        172.0067,
        0.223967,
    );
    assert_sum_mean(
        "v_prediction",
        ddim_full_loop(DdimConfig {
            prediction_type: PredictionType::VPrediction,
            ..ddim_test_config()
        }),
        52.5302,
        0.0684,
    );
    assert_sum_mean(
        "set_alpha_to_one, beta_start 0.01",
        ddim_full_loop(DdimConfig {
            set_alpha_to_one: true,
            beta_start: 0.01,
            ..ddim_test_config()
        }),
        149.8295,
        0.1951,
    );
    assert_sum_mean(
        "no set_alpha_to_one, beta_start 0.01",
        ddim_full_loop(DdimConfig {
            set_alpha_to_one: false,
            beta_start: 0.01,
            ..ddim_test_config()
        }),
        149.0784,
        0.1941,
    );
}

#[test]
fn ddim_steps_offset_matches_diffusers_test() {
    // test_scheduler_ddim.py::test_steps_offset
    let mut s = DdimScheduler::new(DdimConfig {
        steps_offset: 1,
        ..ddim_test_config()
    })
    .unwrap();
    s.set_timesteps(5).unwrap();
    assert_eq!(s.timesteps(), &[801, 601, 401, 201, 1]);
}
