//! The fixed texts of the report, in difflab's own words: Module 0 (the ideas), the three
//! formulas in three tiers, and "from toy to DALL-E". HTML fragments; the run's numbers are
//! added by [`super::page`].

/// Module 0: the two phases, analogies, why the model predicts noise, real-world uses.
pub const MODULE0_INTRO: &str = r#"
<p>A diffusion model makes pictures by <b>cleaning up noise</b>. It is built in two phases that
run in opposite directions.</p>
<ol>
<li><b>Forward: destroy (easy, no learning).</b> Take a real image and add a little random
noise, then a little more, a few hundred times, until nothing but static is left. Every step is
one line of arithmetic; nothing has to be learned.</li>
<li><b>Reverse: rebuild (hard, learned).</b> Train a neural network to look at a noisy image and
say which part of it is noise. Removing that noise a little at a time turns static back into an
image. Start the reverse walk from <i>fresh</i> static, and the image you arrive at is one
nobody has seen before.</li>
</ol>
<h3>Three ways to picture it</h3>
<ul>
<li><b>A drop of ink in water.</b> The ink spreads out on its own until the glass is evenly
grey (forward). Nobody can un-stir the glass by hand, but a model that has watched millions of
drops spread can guess, step by step, where the ink came from (reverse).</li>
<li><b>A photo restorer.</b> Someone who has repaired thousands of scratched, faded photos
learns what faces and letters usually look like. Give them a photo so damaged it is pure grain
and ask them to "restore" it: they will paint something plausible. The diffusion model is
that restorer, and the pure grain is where new images come from.</li>
<li><b>A sculptor.</b> The block of marble is the random noise; every step chips away what does
not belong. Different blocks give different statues, even with the same sculptor.</li>
</ul>
<h3>Why the network predicts the noise, not the image</h3>
<ul>
<li><b>The answer always looks the same.</b> The noise added is always standard random noise
(mean 0, spread 1), whatever the timestep. A clean image, by contrast, is nearly visible at
t&nbsp;=&nbsp;10 and nearly invisible at t&nbsp;=&nbsp;190. A target of constant size makes one
network work well at every noise level.</li>
<li><b>Knowing the noise is knowing the image.</b> Because the noisy image is a known blend of
image and noise, subtracting the predicted noise (with the right weights) gives the model's
guess of the clean image. Nothing is lost by predicting noise instead.</li>
<li><b>It is what the reverse step needs,</b> and it makes the training loss simple: the mean
squared difference between the noise we added and the noise the network says it sees. The
original DDPM paper (Ho et al., 2020) found this choice gave the best pictures.</li>
</ul>
"#;

/// The comparison of the Lab 7 CNN (analysis) with a diffusion model (synthesis).
pub const CNN_VS_DIFFUSION: &str = r#"
<div class="scroll"><table>
<tr><th></th><th>Lab 7 CNN (analysis)</th><th>Diffusion model (synthesis)</th></tr>
<tr><td>Job</td><td>Look at an image, say what it is</td><td>Make a new image that looks like the training images</td></tr>
<tr><td>Input</td><td>A clean image</td><td>A noisy image and its timestep t</td></tr>
<tr><td>Output</td><td>10 class probabilities (a few numbers)</td><td>A whole noise image, same size as the input</td></tr>
<tr><td>Shape of the network</td><td>Funnel: convolutions and pooling shrink the image to a label</td><td>U-Net: shrink to see the big picture, grow back to full size, with skip connections</td></tr>
<tr><td>The "label" in training</td><td>Given by people (this is a 7)</td><td>Made by us for free: the noise we just added</td></tr>
<tr><td>Loss</td><td>Cross-entropy</td><td>Mean squared error on the noise</td></tr>
<tr><td>Shared</td><td colspan="2">Convolutions and learned filters, mini-batches, backpropagation, the Adam optimiser, epochs, a loss that goes down</td></tr>
<tr><td>Using it</td><td>One pass through the network, same answer every time</td><td>Tens to hundreds of passes, a different image for every starting noise</td></tr>
<tr><td>How we judge it</td><td>Accuracy on test images</td><td>Do the images look real and varied? (FID, a classifier's confidence, our eyes)</td></tr>
</table></div>
"#;

/// Where diffusion models are used.
pub const USES: &str = r#"
<ul>
<li><b>Images from text</b>: Stable Diffusion, DALL·E, Midjourney, Imagen; also editing a photo by describing the change, filling in a missing region (inpainting) and enlarging small images (super-resolution).</li>
<li><b>Sound and video</b>: speech and music generation, and text-to-video systems.</li>
<li><b>Science</b>: designing new protein shapes and drug-like molecules, sharper medical scans from fewer measurements, and weather forecasts that give a range of possible futures.</li>
<li><b>Robots</b>: "diffusion policies" generate a smooth sequence of arm movements the same way a model generates pixels.</li>
</ul>
"#;

/// One formula in three tiers.
pub struct Formula {
    /// Its name.
    pub title: &'static str,
    /// Tier 1: the symbols (HTML).
    pub symbols: &'static str,
    /// What the symbols mean (HTML).
    pub legend: &'static str,
    /// Tier 2: one plain sentence.
    pub sentence: &'static str,
    /// Tier 3: pseudocode.
    pub pseudocode: &'static str,
}

/// The forward process, the reverse DDPM step and text conditioning.
pub const FORMULAS: [Formula; 3] = [
    Formula {
        title: "The forward process: adding noise",
        symbols: "x<sub>t</sub> = &radic;<span style=\"text-decoration:overline\">&alpha;</span><sub>t</sub>&thinsp;x<sub>0</sub> + &radic;(1 &minus; <span style=\"text-decoration:overline\">&alpha;</span><sub>t</sub>)&thinsp;&epsilon;, &nbsp; &epsilon; ~ N(0, I), &nbsp; <span style=\"text-decoration:overline\">&alpha;</span><sub>t</sub> = (1&minus;&beta;<sub>1</sub>)(1&minus;&beta;<sub>2</sub>)&middot;&middot;&middot;(1&minus;&beta;<sub>t</sub>)",
        legend: "x<sub>0</sub>: the clean image; x<sub>t</sub>: the image after t steps; &epsilon;: random noise; &beta;<sub>t</sub>: how much noise step t adds (from 0.0001 up to 0.02); &alpha;&#772;<sub>t</sub>: how much of the image is left.",
        sentence: "The noisy image at step t is a mix of the clean image and fresh random noise, and the mix tips towards noise as t grows; we can jump straight to any t without doing the steps in between.",
        pseudocode: "alpha_bar = cumulative_product(1 - beta)      # one number per timestep\nnoise     = random_normal(same shape as x0)\nx_t       = sqrt(alpha_bar[t]) * x0 + sqrt(1 - alpha_bar[t]) * noise",
    },
    Formula {
        title: "The reverse step (DDPM): removing a little noise",
        symbols: "x<sub>t&minus;1</sub> = <sup>1</sup>&frasl;<sub>&radic;&alpha;<sub>t</sub></sub> ( x<sub>t</sub> &minus; <sup>&beta;<sub>t</sub></sup>&frasl;<sub>&radic;(1&minus;&alpha;&#772;<sub>t</sub>)</sub> &epsilon;<sub>&theta;</sub>(x<sub>t</sub>, t) ) + &sigma;<sub>t</sub>&thinsp;z, &nbsp; z ~ N(0, I)",
        legend: "&epsilon;<sub>&theta;</sub>(x<sub>t</sub>, t): the network's guess of the noise in x<sub>t</sub>; &alpha;<sub>t</sub> = 1 &minus; &beta;<sub>t</sub>; &sigma;<sub>t</sub>: the size of the fresh noise put back (&sigma;<sub>t</sub><sup>2</sup> = &beta;<sub>t</sub>, or a slightly smaller value); no noise is added at the very last step.",
        sentence: "Ask the network which noise is in the image, subtract a carefully scaled part of it, and add back a smaller pinch of fresh noise so the walk keeps exploring; repeat from pure noise down to t = 0.",
        pseudocode: "x = random_normal(image shape)                 # noise, t = T-1 (difflab: mean and spread of the noised digits)\nfor t in T-1, T-2, ..., 0:\n    eps_hat = model(x, t)                      # predicted noise\n    x = (x - beta[t] / sqrt(1 - alpha_bar[t]) * eps_hat) / sqrt(1 - beta[t])\n    if t > 0:\n        x = x + sigma[t] * random_normal(image shape)\nreturn x                                       # a new image",
    },
    Formula {
        title: "Text conditioning: steering with a prompt",
        symbols: "&epsilon;&#770; = &epsilon;<sub>&theta;</sub>(x<sub>t</sub>, t, &empty;) + w &middot; ( &epsilon;<sub>&theta;</sub>(x<sub>t</sub>, t, c) &minus; &epsilon;<sub>&theta;</sub>(x<sub>t</sub>, t, &empty;) ), &nbsp; c = TextEncoder(prompt)",
        legend: "c: the prompt turned into numbers by a text encoder; &empty;: an empty prompt; w: the guidance scale (often 5 to 10); &epsilon;&#770; replaces &epsilon;<sub>&theta;</sub> in the reverse step. The network reads c through cross-attention layers.",
        sentence: "The network is asked twice at every step, once with the prompt and once without, and the step is pushed further in the direction the prompt pulls (\"classifier-free guidance\").",
        pseudocode: "c = text_encoder(\"a watercolour fox\")\nx = random_normal(latent shape)\nfor t in timesteps (e.g. 30 of them):\n    eps_cond   = model(x, t, c)\n    eps_uncond = model(x, t, empty_prompt)\n    eps_hat    = eps_uncond + w * (eps_cond - eps_uncond)\n    x          = scheduler_step(x, eps_hat, t)\nimage = vae_decoder(x)                         # latent -> pixels",
    },
];

/// "How conditioning changes the loop", after the comparison table.
pub const CONDITIONING: &str = r#"
<p>Your toy model and the CIFAR-10 model are <b>unconditional</b>: you cannot ask for a "3" or a
"horse"; the starting noise alone decides what comes out. Text-to-image systems change the same
loop in three places:</p>
<ol>
<li><b>A text encoder</b> (a language model such as CLIP's or T5) turns the prompt into a list of
vectors once, before the loop starts.</li>
<li><b>The denoiser reads the text</b> at every step through cross-attention layers, so its noise
guess depends on the prompt. Guidance asks it twice per step (with and without the prompt) and
exaggerates the difference, which is why a prompt is followed so closely.</li>
<li><b>The loop runs in a compressed "latent" space</b> (for example 64&times;64&times;4 numbers instead
of 512&times;512&times;3 pixels) and a decoder network turns the final latent into the picture. With
a fast sampler such as DDIM, 20 to 50 steps are enough.</li>
</ol>
"#;

/// Module 3: why a multistep ODE solver needs fewer steps than DDPM, in three tiers (plain
/// words, a picture, a formula), with what the toy's measurements show.
pub const FEW_STEPS: &str = r#"
<h3>Why a multistep solver needs 10-20 steps where DDPM needs 200</h3>
<div class="tiers">
<div class="tier"><h4>In plain words</h4><p>DDPM walks back from noise like a hiker in fog
who may look only at the ground under their feet: each step trusts the model's guess at the
current spot alone, so the steps must be tiny or the walk drifts off the path. A multistep
solver such as DPM-Solver++ also remembers where the last step pointed. Two directions show
which way the path <i>bends</i>, so it can take long strides along the curve and still land
on it. With 10-20 strides it arrives where DDPM needs 200 small steps to go.</p></div>
<div class="tier"><h4>A picture</h4><p><code>steps.png</code> above: read the DDPM row from
left to right (10, 20, 50, … steps), then the SDE-DPM-Solver++ row. DDPM's digits at 10
steps are blotchy; the solver's at 10 steps already look like DDPM's at all T. DDIM is the
one-step (first-order) version of the same deterministic walk: it stays the same digit at any
step count, because it follows the same curve, but with the lab's model that curve ends on
rougher digits.</p></div>
<div class="tier"><h4>A formula</h4><div class="formula">x<sub>t−h</sub> =
(σ<sub>t−h</sub>/σ<sub>t</sub>)·x<sub>t</sub> − α<sub>t−h</sub>(e<sup>−h</sup> − 1)·[x̂<sub>0</sub>(t) +
(x̂<sub>0</sub>(t) − x̂<sub>0</sub>(t+h′))·h/(2h′)]</div><p class="small">The reverse process
is an ODE in λ = log(α/σ): its solution is exact up to the integral of the model's x̂₀ over
the step. DDPM (and DDIM) hold x̂₀ constant across a step, an error of order h² per step, so
the total error shrinks only like h: halving it needs twice the steps. DPM-Solver++ (2M)
extrapolates x̂₀ linearly from the last two steps (the bracket), so the error per step is
of order h³ and the total like h²: ten steps of it are as accurate as about a hundred of the
first-order walk. The SDE variant adds fresh noise after each step, as DDPM does, which lets
later steps mend the model's mistakes.</p></div>
</div>
<p>Measured on the toy (1,000 digits, FID, lower is better): DDPM needs all 200 steps for
12.3; SDE-DPM-Solver++ gets 13.7 at 10 steps. The deterministic solvers (DDIM, DPM-Solver++,
UniPC, Euler, PNDM) reach their final answer by 10-20 steps too, but that answer is FID 38-40
with the lab's schedule: x<sub>T</sub> still holds a third of the digit, and no start a
deterministic walk can be given has it. Trained with <code>--prediction v --zero-snr</code>
(x<sub>T</sub> is pure noise, as the start) the same model gets FID 7.0 with DDPM, 12.0 with
DPM-Solver++ at 10 steps and 6.6 with SDE-DPM-Solver++ at 10 steps.</p>
"#;
