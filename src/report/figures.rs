//! What each module's figures show, and what to notice in them (the report's captions).

use super::record::Stage;

/// A figure a module writes.
pub struct FigureText {
    /// File name in the module's folder.
    pub file: &'static str,
    /// Short title.
    pub title: &'static str,
    /// What to notice.
    pub notice: &'static str,
}

const fn f(file: &'static str, title: &'static str, notice: &'static str) -> FigureText {
    FigureText {
        file,
        title,
        notice,
    }
}

/// The figures of `stage`, in the order the report shows them.
pub fn catalogue(stage: Stage) -> &'static [FigureText] {
    match stage {
        Stage::Forward => {
            const C: &[FigureText] = &[
            f("schedule.png", "How much signal is left", "The signal weight ᾱ falls slowly at first and then fast; where it crosses the 50% line, half of the image's variance is noise."),
            f("noising.png", "The digit dissolving", "The border colour follows the noise share (green, orange, red). Find the first frame where you could no longer name the digit."),
            f("snr.png", "Signal-to-noise ratio", "SNR drops by orders of magnitude, so it is drawn in decibels too. Left of the SNR = 1 line the digit dominates; right of it the noise does."),
            f("realizations.png", "Five noisings of one digit", "Same digit, same timestep, same formula: only the random draw of ε changes, and each result is different."),
            f("schedules.png", "Linear against cosine schedule", "The cosine schedule keeps more of the digit in the middle timesteps, so fewer steps are spent on pure static."),
            f("forward.gif", "The whole forward process", "Watch for the moment the strokes stop being visible: it comes well before the last frame."),
            ];
            C
        }
        Stage::Train => {
            const C: &[FigureText] = &[
            f("loss.png", "Training loss", "The loss drops steeply in the first few hundred steps and then flattens; each epoch's mean is marked. A model that always answered \"no noise\" would sit at 1.0."),
            f("denoising.png", "What the model sees and predicts", "Compare the actual and predicted noise in each row: close at small t, rougher at large t, where the one-step estimate is blurrier."),
            f("filters.png", "First-layer filters", "Like the Lab 7 CNN, the first layer learns small edge and blob detectors; red and blue are positive and negative weights."),
            f("preview.png", "First generated digits", "These came from noise after training. Are they all readable? Which digits appear?"),
            ];
            C
        }
        Stage::Sample => {
            const C: &[FigureText] = &[
            f("trajectory.png", "One generation, step by step", "Top row: the image as it is cleaned. Bottom row: the model's guess of the finished digit at that moment; the guess settles long before the noise is gone."),
            f("samples.png", "Twelve generated digits", "Twelve seeds, twelve digits. Count the ones you would accept as handwriting."),
            f("steps.png", "Fewer steps", "The same starting noise with fewer and more steps, and the time each took. DDIM gives nearly the same digit at any step count, so it can take far fewer steps; but it never adds noise, so every error in the model's noise guess stays in the picture, and from a model this small its digits come out rougher than DDPM's, whose fresh noise lets later steps mend earlier mistakes."),
            f("denoise.gif", "Sixteen digits forming", "Structure appears in the second half of the walk; the first steps mostly remove static."),
            ];
            C
        }
        Stage::Eval => {
            const C: &[FigureText] = &[f(
                "quality_vs_steps.png",
                "Quality against steps",
                "FID (lower is better) and time for each sampler and number of steps.",
            )];
            C
        }
        Stage::Control => {
            const C: &[FigureText] = &[
                f(
                    "conditional.png",
                    "Ask for a digit",
                    "Every row asked for one digit; the columns start from different noise.",
                ),
                f(
                    "guidance.png",
                    "The guidance knob",
                    "Fidelity rises with w while the rows grow alike.",
                ),
            ];
            C
        }
        Stage::Pretrained => {
            const C: &[FigureText] = &[
            f("samples.png", "Sixteen CIFAR-10 images", "Made from pure noise by a 35.7-million-parameter model. Which categories can you spot?"),
            f("steps.png", "25, 50 and 100 steps", "The same starting noise with more steps: look at how much changes from 50 to 100 compared with 25 to 50, and at the times."),
            f("toy_vs_pretrained.png", "Toy against professional", "Same algorithm, very different scale: compare the parameter counts, resolution, data and training time in the captions."),
            ];
            C
        }
    }
}
