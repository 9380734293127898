//! DDPM and DDIM schedulers with diffusers' semantics: `set_timesteps`, `step`, pure math.
