//! The library's loops that join a noise-predicting model and a scheduler: sampling
//! ([`sample`]), classifier-free guidance as a sampling hook ([`guidance`]) and inpainting
//! ([`inpaint`]). Results come back in memory; progress goes to a
//! [`crate::util::progress::Progress`]. The module demos that turn them into figures live in
//! `crate::demos`.

pub mod guidance;
pub mod inpaint;
mod noise;
pub mod sample;
mod step;
