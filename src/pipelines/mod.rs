//! End-to-end processes: the Module 1 forward-diffusion demo and the sampling loops that join a
//! noise-predicting model and a scheduler.

pub mod forward_demo;
pub mod generate_demo;
pub mod guidance;
pub mod guidance_demo;
pub mod inpaint;
pub mod pretrained_demo;
pub mod sample;
