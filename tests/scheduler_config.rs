//! scheduler_config.json loading and saving, config validation, and the schedulers' errors.

mod common;
use difflab::diffusion::BetaSchedule;
use difflab::schedulers::{
    AnySampler, AnyScheduler, ConfigFile, DdimConfig, DdimScheduler, DdpmConfig, DdpmScheduler,
    PredictionType, Sampler, SamplerKind, Scheduler, SchedulerKind, TimestepSpacing, VarianceType,
};

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn loads_the_cifar10_scheduler_config_ignoring_unknown_keys_and_defaulting_missing_ones() {
    // _class_name and _diffusers_version are unknown to the struct; timestep_spacing,
    // prediction_type, steps_offset and clip_sample_range are absent.
    let path = common::fixtures_dir().join("unet_tiny/scheduler_config.json");
    let c = DdpmConfig::load(&path).unwrap();
    assert_eq!(c.num_train_timesteps, 1000);
    assert_eq!(c.beta_schedule, BetaSchedule::Linear);
    assert_eq!((c.beta_start, c.beta_end), (0.0001, 0.02));
    assert_eq!(c.variance_type, VarianceType::FixedLarge);
    assert!(c.clip_sample);
    assert_eq!(c.trained_betas, None);
    assert_eq!(c.timestep_spacing, TimestepSpacing::Leading);
    assert_eq!(c.prediction_type, PredictionType::Epsilon);
    assert_eq!(c.steps_offset, 0);
    assert_eq!(c.clip_sample_range, 1.0);

    let any = AnyScheduler::from_config_file(&path, None).unwrap();
    assert_eq!(any.kind(), SchedulerKind::Ddpm);
    // The same file read for DDIM: shared fields carry over, set_alpha_to_one defaults to true.
    let ddim = AnyScheduler::from_config_file(&path, Some(SchedulerKind::Ddim)).unwrap();
    match &ddim {
        AnyScheduler::Ddim(s) => {
            assert!(s.config().set_alpha_to_one);
            assert!(s.config().clip_sample);
            assert_eq!(s.config().num_train_timesteps, 1000);
        }
        _ => panic!("expected DDIM"),
    }
}

#[test]
fn empty_config_gives_diffusers_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "scheduler_config.json", "{}");
    let c = DdimConfig::load(&p).unwrap();
    assert_eq!(c, DdimConfig::default());
    assert_eq!(c.num_train_timesteps, 1000);
    assert!(c.set_alpha_to_one && c.clip_sample);
    let d = DdpmConfig::load(&p).unwrap();
    assert_eq!(d.variance_type, VarianceType::FixedSmall);
}

#[test]
fn round_trip_save_and_load() {
    let dir = tempfile::tempdir().unwrap();
    let c = DdpmConfig {
        num_train_timesteps: 200,
        beta_schedule: BetaSchedule::SquaredcosCapV2,
        variance_type: VarianceType::FixedLargeLog,
        prediction_type: PredictionType::VPrediction,
        timestep_spacing: TimestepSpacing::Trailing,
        steps_offset: 1,
        clip_sample: false,
        clip_sample_range: 2.5,
        ..Default::default()
    };
    let p = dir.path().join("sub/scheduler_config.json");
    c.save(&p).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(
        text.contains("\"_class_name\": \"DDPMScheduler\""),
        "{text}"
    );
    assert!(
        text.contains("\"beta_schedule\": \"squaredcos_cap_v2\""),
        "{text}"
    );
    assert!(
        text.contains("\"variance_type\": \"fixed_large_log\""),
        "{text}"
    );
    assert_eq!(DdpmConfig::load(&p).unwrap(), c);
    // The saved file names its class, so the loader picks the right scheduler.
    let d = DdimConfig {
        set_alpha_to_one: false,
        trained_betas: Some(vec![0.1, 0.2, 0.3]),
        num_train_timesteps: 3,
        ..Default::default()
    };
    let q = dir.path().join("ddim.json");
    d.save(&q).unwrap();
    assert_eq!(DdimConfig::load(&q).unwrap(), d);
    let any = AnyScheduler::from_config_file(&q, None).unwrap();
    assert_eq!(any.kind(), SchedulerKind::Ddim);
    assert_eq!(any.schedule().betas_f64().len(), 3);
}

#[test]
fn wrong_types_name_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    for (text, field) in [
        (
            r#"{"_class_name": "DDPMScheduler", "clip_sample": "yes"}"#,
            "clip_sample",
        ),
        (r#"{"num_train_timesteps": 10.5}"#, "num_train_timesteps"),
        (r#"{"beta_start": "0.1"}"#, "beta_start"),
        (r#"{"variance_type": "learned_range"}"#, "variance_type"),
        (r#"{"prediction_type": "noise"}"#, "prediction_type"),
        (r#"{"timestep_spacing": "uniform"}"#, "timestep_spacing"),
        (r#"{"beta_schedule": "laplace"}"#, "beta_schedule"),
        (r#"{"trained_betas": [0.1, "x"]}"#, "trained_betas"),
        (r#"{"steps_offset": -1}"#, "steps_offset"),
    ] {
        let p = write(dir.path(), "bad_config.json", text);
        let e = DdpmConfig::load(&p).unwrap_err().to_string();
        assert!(e.contains("bad_config.json"), "{text}: {e}");
        assert!(e.contains(&format!("field `{field}`")), "{text}: {e}");
    }
    let p = write(dir.path(), "bad_ddim.json", r#"{"set_alpha_to_one": 1}"#);
    let e = DdimScheduler::from_config_file(&p).unwrap_err().to_string();
    assert!(
        e.contains("bad_ddim.json") && e.contains("field `set_alpha_to_one`"),
        "{e}"
    );
}

#[test]
fn bad_files_and_unsupported_settings_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let e = DdpmScheduler::from_config_file(&missing)
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope.json"), "{e}");

    let p = write(dir.path(), "broken.json", "{\"num_train_timesteps\": ");
    let e = DdpmConfig::load(&p).unwrap_err().to_string();
    assert!(
        e.contains("broken.json") && e.contains("not valid JSON"),
        "{e}"
    );

    let p = write(dir.path(), "list.json", "[1, 2]");
    let e = DdpmConfig::load(&p).unwrap_err().to_string();
    assert!(e.contains("list.json") && e.contains("JSON object"), "{e}");

    for (text, needle) in [
        (r#"{"thresholding": true}"#, "thresholding"),
        (r#"{"num_train_timesteps": 0}"#, "num_train_timesteps"),
        (
            r#"{"num_train_timesteps": 4, "trained_betas": [0.1, 0.2]}"#,
            "trained_betas",
        ),
        (
            r#"{"num_train_timesteps": 2, "trained_betas": [0.1, 1.5]}"#,
            "outside (0, 1)",
        ),
        (r#"{"beta_start": 0.0}"#, "beta_start"),
        (r#"{"clip_sample_range": 0.0}"#, "clip_sample_range"),
    ] {
        let p = write(dir.path(), "semantic.json", text);
        let e = DdpmScheduler::from_config_file(&p).unwrap_err().to_string();
        assert!(
            e.contains("semantic.json") && e.contains(needle),
            "{text}: {e}"
        );
        let e = AnyScheduler::from_config_file(&p, Some(SchedulerKind::Ddim))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("semantic.json") && e.contains(needle),
            "{text}: {e}"
        );
    }

    let p = write(
        dir.path(),
        "pndm.json",
        r#"{"_class_name": "PNDMScheduler"}"#,
    );
    let e = AnyScheduler::from_config_file(&p, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("pndm.json") && e.contains("PNDMScheduler") && e.contains("ddim"),
        "{e}"
    );
    // Naming a sampler reads the shared fields whatever the class, like diffusers' from_config.
    assert_eq!(
        AnyScheduler::from_config_file(&p, Some(SchedulerKind::Ddpm))
            .unwrap()
            .kind(),
        SchedulerKind::Ddpm
    );
}

#[test]
fn set_timesteps_rejects_zero_and_more_than_t() {
    for mut s in [
        AnyScheduler::new(
            SchedulerKind::Ddpm,
            &DdpmConfig {
                num_train_timesteps: 200,
                ..Default::default()
            },
        )
        .unwrap(),
        AnyScheduler::new(
            SchedulerKind::Ddim,
            &DdpmConfig {
                num_train_timesteps: 200,
                ..Default::default()
            },
        )
        .unwrap(),
    ] {
        let e = s.set_timesteps(0).unwrap_err().to_string();
        assert!(e.contains("at least 1"), "{e}");
        let e = s.set_timesteps(201).unwrap_err().to_string();
        assert!(e.contains("201") && e.contains("200"), "{e}");
        s.set_timesteps(200).unwrap();
        assert_eq!(s.timesteps().len(), 200);
    }
    // A steps_offset that pushes the first leading timestep to T.
    let mut s = DdpmScheduler::new(DdpmConfig {
        num_train_timesteps: 10,
        steps_offset: 1,
        ..Default::default()
    })
    .unwrap();
    let e = s.set_timesteps(10).unwrap_err().to_string();
    assert!(e.contains("steps_offset") && e.contains("10"), "{e}");
}

#[test]
fn trailing_spacing_never_yields_a_negative_timestep() {
    // NumPy's arange(100, 0, -100/29) has 30 values, the last rounding to timestep −1;
    // diffusers would index ᾱ[−1]. difflab keeps the 29 real ones.
    let mut s = DdpmScheduler::new(DdpmConfig {
        num_train_timesteps: 100,
        timestep_spacing: TimestepSpacing::Trailing,
        ..Default::default()
    })
    .unwrap();
    s.set_timesteps(29).unwrap();
    let ts = s.timesteps();
    assert_eq!(ts.len(), 29);
    assert_eq!(ts[0], 99);
    assert!(ts.windows(2).all(|w| w[0] > w[1]), "{ts:?}");
}

#[test]
fn step_errors_on_bad_arguments() {
    let mut s = DdpmScheduler::new(DdpmConfig {
        num_train_timesteps: 100,
        ..Default::default()
    })
    .unwrap();
    s.set_timesteps(10).unwrap(); // 90, 80, ..., 0
    let x = vec![0.5f32; 8];
    // A timestep not in the schedule.
    let e = s.step(&x, 95, &x, Some(&x)).unwrap_err().to_string();
    assert!(e.contains("95") && e.contains("set_timesteps"), "{e}");
    // Missing noise where the step adds noise; wrong lengths.
    let e = s.step(&x, 90, &x, None).unwrap_err().to_string();
    assert!(e.contains("no noise"), "{e}");
    let e = s.step(&x[..4], 90, &x, Some(&x)).unwrap_err().to_string();
    assert!(e.contains("same length"), "{e}");
    let e = s.step(&x, 90, &x, Some(&x[..3])).unwrap_err().to_string();
    assert!(e.contains("noise has 3"), "{e}");

    let mut d = DdimScheduler::new(DdimConfig {
        num_train_timesteps: 100,
        ..Default::default()
    })
    .unwrap();
    assert!(d.set_eta(1.5).unwrap_err().to_string().contains("eta"));
    assert!(d.set_eta(-0.1).is_err());
    let e = d.step(&x, 100, &x, None).unwrap_err().to_string();
    assert!(e.contains("100") && e.contains("outside"), "{e}");
    let mut any = AnyScheduler::Ddpm(s.clone());
    assert!(any.set_eta(0.0).is_ok());
    assert!(any.set_eta(0.5).unwrap_err().to_string().contains("DDIM"));
}

#[test]
fn ddpm_adds_no_noise_on_the_step_to_the_clean_sample() {
    // Trailing spacing ends above 0 (T = 100, n = 10: last t = 9). diffusers adds σ·z there
    // (for fixed_large, σ = √β_eff); difflab returns the posterior mean.
    for variance_type in [VarianceType::FixedSmall, VarianceType::FixedLarge] {
        let mut s = DdpmScheduler::new(DdpmConfig {
            num_train_timesteps: 100,
            timestep_spacing: TimestepSpacing::Trailing,
            variance_type,
            ..Default::default()
        })
        .unwrap();
        s.set_timesteps(10).unwrap();
        let last = *s.timesteps().last().unwrap();
        assert_eq!(last, 9);
        assert!(!s.noise_needed(last).unwrap());
        assert_eq!(s.prev_timestep(last).unwrap(), None);
        let x = vec![0.3f32, -0.2, 0.9];
        let z = vec![5.0f32; 3];
        assert_eq!(
            s.step(&x, last, &x, Some(&z)).unwrap(),
            s.step(&x, last, &x, None).unwrap()
        );
        // One step earlier noise is added, with σ² = β_eff = 1 − ᾱ_19/ᾱ_9 for fixed_large.
        let t = s.timesteps()[8];
        assert_eq!(t, 19);
        let a = s.schedule().alphas_cumprod_f64();
        let beta_eff = 1.0 - a[19] / a[9];
        let small = (1.0 - a[9]) / (1.0 - a[19]) * beta_eff;
        let want = if variance_type == VarianceType::FixedLarge {
            beta_eff
        } else {
            small
        }
        .sqrt();
        assert!((s.std_dev(t).unwrap() - want).abs() < 1e-12);
        let with = s.step(&x, t, &x, Some(&z)).unwrap().prev_sample;
        let without = s.step(&x, t, &x, Some(&[0.0; 3])).unwrap().prev_sample;
        for (w, o) in with.iter().zip(&without) {
            assert!(((w - o) as f64 - 5.0 * want).abs() < 1e-5);
        }
    }
}

#[test]
fn log_variances_match_their_plain_counterparts() {
    // fixed_small_log and fixed_large_log give the same σ as fixed_small and fixed_large
    // (diffusers' fixed_large_log yields NaN: √(log β)).
    let sigma = |v| {
        let mut s = DdpmScheduler::new(DdpmConfig {
            variance_type: v,
            ..Default::default()
        })
        .unwrap();
        s.set_timesteps(50).unwrap();
        s.timesteps()[..49]
            .iter()
            .map(|&t| s.std_dev(t).unwrap())
            .collect::<Vec<_>>()
    };
    let (small, small_log) = (
        sigma(VarianceType::FixedSmall),
        sigma(VarianceType::FixedSmallLog),
    );
    let (large, large_log) = (
        sigma(VarianceType::FixedLarge),
        sigma(VarianceType::FixedLargeLog),
    );
    for i in 0..49 {
        assert!((small[i] - small_log[i]).abs() <= 1e-12 * small[i].max(1e-10));
        assert!((large[i] - large_log[i]).abs() <= 1e-12 * large[i]);
        assert!(large[i] > small[i] && small[i] > 0.0);
    }
}

#[test]
fn ddim_with_eta_one_uses_the_ddpm_posterior_variance() {
    let mut d = DdimScheduler::new(DdimConfig::default()).unwrap();
    d.set_timesteps(20).unwrap();
    let mut p = DdpmScheduler::new(DdpmConfig::default()).unwrap();
    p.set_timesteps(20).unwrap();
    for &t in &d.timesteps()[..19] {
        let (sd, sp) = (d.std_dev(t, 1.0).unwrap(), p.std_dev(t).unwrap());
        assert!((sd - sp).abs() < 1e-12, "t={t}: {sd} vs {sp}");
        assert!((d.std_dev(t, 0.5).unwrap() - 0.5 * sd).abs() < 1e-12);
    }
    // eta 0 draws nothing; eta 1 draws except on the last step (σ = 0 with set_alpha_to_one).
    assert!(!d.noise_needed(d.timesteps()[0]).unwrap());
    d.set_eta(1.0).unwrap();
    assert!(d.noise_needed(d.timesteps()[0]).unwrap());
    assert!(!d.noise_needed(*d.timesteps().last().unwrap()).unwrap());
}

#[test]
fn rescale_betas_zero_snr_ends_at_pure_noise_and_keeps_the_first_alpha_bar() {
    let plain = DdpmScheduler::new(DdpmConfig::default()).unwrap();
    let mut z = DdpmScheduler::new(DdpmConfig {
        rescale_betas_zero_snr: true,
        timestep_spacing: TimestepSpacing::Trailing,
        ..Default::default()
    })
    .unwrap();
    let (a, b) = (
        plain.schedule().alphas_cumprod_f64(),
        z.schedule().alphas_cumprod_f64(),
    );
    assert_eq!(b[b.len() - 1], 0.0, "ᾱ_(T−1) must be exactly 0");
    assert!((a[0] - b[0]).abs() < 1e-6, "ᾱ_0 {} vs {}", a[0], b[0]);
    assert!(b.windows(2).all(|w| w[1] < w[0]), "ᾱ must fall");
    // An epsilon model cannot be stepped at ᾱ = 0; a v-prediction one can.
    z.set_timesteps(10).unwrap();
    let x = vec![0.5f32; 4];
    let t = z.timesteps()[0];
    let e = z.step(&x, t, &x, Some(&x)).unwrap_err().to_string();
    assert!(
        e.contains("zero terminal SNR") && e.contains("v_prediction"),
        "{e}"
    );
    let mut v = DdimScheduler::new(DdimConfig {
        rescale_betas_zero_snr: true,
        prediction_type: PredictionType::VPrediction,
        timestep_spacing: TimestepSpacing::Trailing,
        ..Default::default()
    })
    .unwrap();
    v.set_timesteps(10).unwrap();
    assert_eq!(v.timesteps()[0], 999);
    let out = v.step(&x, 999, &x, None).unwrap();
    // At ᾱ = 0, x̂0 = √ᾱ·x − √(1−ᾱ)·v = −v.
    assert_eq!(out.pred_original_sample, vec![-0.5; 4]);
}

/// A config file of each class, as diffusers writes them (`_class_name` plus some fields).
const CLASS_FILES: [(&str, SamplerKind); 8] = [
    (r#"{"_class_name": "DDPMScheduler"}"#, SamplerKind::Ddpm),
    (r#"{"_class_name": "DDIMScheduler"}"#, SamplerKind::Ddim),
    (
        r#"{"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity}"#,
        SamplerKind::DpmSolver,
    ),
    (
        r#"{"_class_name": "DPMSolverMultistepScheduler", "algorithm_type": "sde-dpmsolver++"}"#,
        SamplerKind::DpmSolverSde,
    ),
    (
        r#"{"_class_name": "UniPCMultistepScheduler", "solver_p": null}"#,
        SamplerKind::UniPc,
    ),
    (
        r#"{"_class_name": "EulerDiscreteScheduler", "use_karras_sigmas": null}"#,
        SamplerKind::Euler,
    ),
    (
        r#"{"_class_name": "EulerAncestralDiscreteScheduler"}"#,
        SamplerKind::EulerAncestral,
    ),
    (
        r#"{"_class_name": "PNDMScheduler", "skip_prk_steps": true}"#,
        SamplerKind::Pndm,
    ),
];

#[test]
fn sampler_configs_dispatch_on_class_name_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    for (text, kind) in CLASS_FILES {
        let p = write(dir.path(), "scheduler_config.json", text);
        let mut s = AnySampler::from_config_file(&p, None).unwrap();
        assert_eq!(s.kind(), kind, "{text}");
        assert_eq!(SamplerKind::parse(kind.name()).unwrap(), kind);
        s.set_timesteps(10).unwrap();
        // Saved and loaded again: the same sampler with the same schedule.
        let q = dir.path().join("saved.json");
        s.save_config(&q).unwrap();
        let mut t = AnySampler::from_config_file(&q, None).unwrap();
        t.set_timesteps(10).unwrap();
        assert_eq!(t.kind(), kind);
        assert_eq!(t.timesteps(), s.timesteps(), "{text}");
        assert_eq!(t.sigmas(), s.sigmas(), "{text}");
        // A DDPM model's config read as each sampler keeps its schedule (diffusers' from_config).
        let base = DdpmConfig {
            num_train_timesteps: 200,
            ..Default::default()
        };
        let mut u = AnySampler::from_ddpm_config(kind, &base).unwrap();
        assert_eq!((u.kind(), u.num_train_timesteps()), (kind, 200));
        u.set_timesteps(20).unwrap();
        assert!(u.num_steps() >= 20);
    }
    assert!(SamplerKind::parse("heun")
        .unwrap_err()
        .to_string()
        .contains("dpm++"));
}

#[test]
fn bad_sampler_configs_name_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let dpm = r#""_class_name": "DPMSolverMultistepScheduler""#;
    let unipc = r#""_class_name": "UniPCMultistepScheduler""#;
    for (body, field) in [
        (
            r#""_class_name": "KarrasVeScheduler""#.to_string(),
            "_class_name",
        ),
        (format!(r#"{dpm}, "solver_order": 4"#), "solver_order"),
        (format!(r#"{dpm}, "solver_order": "two""#), "solver_order"),
        (
            format!(r#"{dpm}, "algorithm_type": "dpmsolver""#),
            "algorithm_type",
        ),
        (
            format!(r#"{dpm}, "use_lu_lambdas": true"#),
            "use_lu_lambdas",
        ),
        (
            format!(r#"{dpm}, "variance_type": "learned_range""#),
            "variance_type",
        ),
        (
            format!(r#"{dpm}, "lambda_min_clipped": "abc""#),
            "lambda_min_clipped",
        ),
        (
            format!(r#"{dpm}, "final_sigmas_type": "max""#),
            "final_sigmas_type",
        ),
        (format!(r#"{unipc}, "solver_type": "bh3""#), "solver_type"),
        (format!(r#"{unipc}, "solver_order": 0"#), "solver_order"),
        (format!(r#"{unipc}, "solver_p": {{}}"#), "solver_p"),
        (
            r#""_class_name": "EulerDiscreteScheduler", "interpolation_type": "log_linear""#.into(),
            "interpolation_type",
        ),
        (
            r#""_class_name": "EulerAncestralDiscreteScheduler", "prediction_type": "sample""#
                .into(),
            "prediction_type",
        ),
        (
            r#""_class_name": "PNDMScheduler", "prediction_type": "sample""#.into(),
            "prediction_type",
        ),
        (
            r#""_class_name": "PNDMScheduler", "num_train_timesteps": 0"#.into(),
            "num_train_timesteps",
        ),
    ] {
        let p = write(dir.path(), "bad_sampler.json", &format!("{{{body}}}"));
        let e = AnySampler::from_config_file(&p, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bad_sampler.json") && e.contains(field),
            "{body}: {e}"
        );
    }
}

#[test]
fn every_sampler_rejects_bad_step_counts() {
    for kind in SamplerKind::ALL {
        let base = DdpmConfig {
            num_train_timesteps: 100,
            ..Default::default()
        };
        let mut s = AnySampler::from_ddpm_config(kind, &base).unwrap();
        let e = s.set_timesteps(0).unwrap_err().to_string();
        assert!(e.contains("at least 1"), "{}: {e}", kind.name());
        let e = s.set_timesteps(101).unwrap_err().to_string();
        assert!(
            e.contains("101") && e.contains("100"),
            "{}: {e}",
            kind.name()
        );
        if s.num_steps() == 0 {
            let e = s.noise_needed(0).unwrap_err().to_string();
            assert!(e.contains("set_timesteps"), "{}: {e}", kind.name());
        }
        s.set_timesteps(10).unwrap();
        let e = s.level_after(s.num_steps()).unwrap_err().to_string();
        assert!(e.contains("outside"), "{}: {e}", kind.name());
    }
    let p = tempfile::tempdir().unwrap();
    let f = write(p.path(), "prk.json", r#"{"_class_name": "PNDMScheduler"}"#);
    let mut s = AnySampler::from_config_file(&f, None).unwrap();
    let e = s.set_timesteps(3).unwrap_err().to_string();
    assert!(
        e.contains("at least 4") && e.contains("skip_prk_steps"),
        "{e}"
    );
    s.set_timesteps(4).unwrap();
    assert_eq!(s.num_steps(), 13);
    // DPM's leading rule with n close to T repeats timesteps, where the solver would divide by 0.
    let f = write(
        p.path(),
        "lead.json",
        r#"{"_class_name": "DPMSolverMultistepScheduler", "num_train_timesteps": 20,
            "timestep_spacing": "leading"}"#,
    );
    let mut s = AnySampler::from_config_file(&f, None).unwrap();
    let e = s.set_timesteps(20).unwrap_err().to_string();
    assert!(e.contains("twice"), "{e}");
}
