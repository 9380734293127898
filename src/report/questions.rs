//! The lab's 25 questions, in difflab's own words, with the module whose evidence answers them.
//! The report places each one beside its figure; the answer sheet lists them with space to
//! write, and pre-fills a value only where a question asks for something measured.

/// Where a question belongs (and where the report shows it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Module 0: the ideas.
    Concepts,
    /// Module 1: the forward process.
    Forward,
    /// Module 2: training.
    Train,
    /// Module 3: generation.
    Sample,
    /// Module 4: the pretrained model.
    Pretrained,
    /// From toy to DALL-E.
    Scale,
}

/// One question of the sheet.
#[derive(Clone, Copy, Debug)]
pub struct Question {
    /// 1 … 25.
    pub number: usize,
    /// The part of the lab it belongs to.
    pub part: Part,
    /// A few words naming the topic (shown in bold).
    pub topic: &'static str,
    /// The question itself.
    pub text: &'static str,
    /// The figure (file name in the module's folder) the report shows it under, if any.
    pub evidence: Option<&'static str>,
}

/// The 25 questions, in order.
pub const QUESTIONS: [Question; 25] = [
    Question { number: 1, part: Part::Concepts, topic: "Two directions", evidence: None,
        text: "Explain, in your own words and without formulas, what the forward process does to an image and what the reverse process does. Which of the two has to be learned?" },
    Question { number: 2, part: Part::Concepts, topic: "Why undoing noise is enough", evidence: None,
        text: "A network that only knows how to remove a little noise can still produce brand-new images. Why? Where does the new image come from?" },
    Question { number: 3, part: Part::Concepts, topic: "Lab 7 versus Lab 8", evidence: None,
        text: "The Lab 7 CNN took an image and returned a label. What does the diffusion model take in and give back? Name one thing the two networks have in common and one real difference." },
    Question { number: 4, part: Part::Concepts, topic: "Your prediction", evidence: None,
        text: "Before running anything: if you start twice from pure noise with the same trained model, what decides which digit comes out? Write your guess; you will check it in Module 3 and in From digits to DALL-E." },
    Question { number: 5, part: Part::Forward, topic: "When is it gone?", evidence: Some("noising.png"),
        text: "Look along the strip of noisy digits. At which timestep can you no longer tell what the digit is? Is that earlier or later than you expected?" },
    Question { number: 6, part: Part::Forward, topic: "t = 50 against t = 150", evidence: Some("noising.png"),
        text: "Compare the digit at t = 50 with the digit at t = 150. What can you still see in each, and what has been lost?" },
    Question { number: 7, part: Part::Forward, topic: "Signal-to-noise ratio", evidence: Some("snr.png"),
        text: "At which timestep does the signal-to-noise ratio fall below 1? What does it mean for the image that the noise now outweighs the digit?" },
    Question { number: 8, part: Part::Forward, topic: "Five noisings", evidence: Some("realizations.png"),
        text: "The same digit was noised five times at the same timestep and the five results differ. Where exactly does the difference come from, given that the formula is the same every time?" },
    Question { number: 9, part: Part::Forward, topic: "Easy one way, hard the other", evidence: Some("realizations.png"),
        text: "Adding noise took one line of arithmetic. Why can we not simply run that formula backwards to remove the noise, so that a trained network is needed?" },
    Question { number: 10, part: Part::Train, topic: "Predict the training time", evidence: None,
        text: "Before training starts, write down how long you think training will take on your computer, and why." },
    Question { number: 11, part: Part::Train, topic: "Final loss", evidence: Some("loss.png"),
        text: "What final loss did your model reach? How does it compare with the reference values shown in the report (a model that always answers \"no noise\" scores 1.0)?" },
    Question { number: 12, part: Part::Train, topic: "Actual training time", evidence: Some("loss.png"),
        text: "How long did training really take? Compare it with your prediction in Q10 and with difflab's estimate. What would make it faster or slower?" },
    Question { number: 13, part: Part::Train, topic: "Denoising at t = 100", evidence: Some("denoising.png"),
        text: "In the row for t = 100, does the one-step denoised estimate look like the original digit? What is still missing?" },
    Question { number: 14, part: Part::Train, topic: "Little noise, lots of noise", evidence: Some("denoising.png"),
        text: "Compare the predicted noise and the denoised estimate at t = 25 and at t = 150. At which of the two is the model more accurate, and why would that be?" },
    Question { number: 15, part: Part::Train, topic: "Training compared with Lab 7", evidence: Some("filters.png"),
        text: "List what training this denoiser has in common with training the Lab 7 classifier (think: loss, optimiser, epochs, batches, filters) and what is different (what plays the role of the label?)." },
    Question { number: 16, part: Part::Sample, topic: "When does the digit appear?", evidence: Some("trajectory.png"),
        text: "Before looking: at which point of the generation (early, middle, late) do you expect to recognise the digit? Now check on the trajectory. Were you right?" },
    Question { number: 17, part: Part::Sample, topic: "Sudden or gradual?", evidence: Some("trajectory.png"),
        text: "Does the digit's structure appear all at once or bit by bit? Compare the top row (the current image) with the bottom row (the model's guess of the final image)." },
    Question { number: 18, part: Part::Sample, topic: "Variety and quality", evidence: Some("samples.png"),
        text: "Look at the twelve generated samples. How many would you accept as real handwritten digits? Are all the trained digits represented, or does the model favour some?" },
    Question { number: 19, part: Part::Sample, topic: "Do we need all the steps?", evidence: Some("steps.png"),
        text: "Compare generation with 50 steps and with 200 steps (time and looks). Is the full number of steps necessary? Use the measured times and scores." },
    Question { number: 20, part: Part::Sample, topic: "Limits of the toy", evidence: Some("samples.png"),
        text: "Name two limitations of this toy model and, for each, one change that might help." },
    Question { number: 21, part: Part::Pretrained, topic: "Recognising CIFAR-10", evidence: Some("samples.png"),
        text: "CIFAR-10 has ten categories (plane, car, bird, cat, deer, dog, frog, horse, ship, truck). In the generated grid, how many images can you place in a category with confidence?" },
    Question { number: 22, part: Part::Pretrained, topic: "25, 50, 100 steps", evidence: Some("steps.png"),
        text: "Compare the images made with 25, 50 and 100 steps and the time each took. Where do extra steps stop paying off?" },
    Question { number: 23, part: Part::Pretrained, topic: "Why 20-50 steps?", evidence: Some("steps.png"),
        text: "Large image generators usually run 20 to 50 steps even though their models were trained with 1000 noise levels. Why is that a sensible choice?" },
    Question { number: 24, part: Part::Pretrained, topic: "The quality gap", evidence: Some("toy_vs_pretrained.png"),
        text: "Which factors explain why the pretrained model's images are so much richer than your toy's? Think of model size, data, resolution and training time." },
    Question { number: 25, part: Part::Scale, topic: "From prompt to picture", evidence: None,
        text: "Describe, step by step, what happens between typing a text prompt into an image generator and getting the picture back. Use the words noise, text encoder, denoiser, steps and guidance; the section From digits to DALL-E shows each of them on the toy scale." },
];

/// Optional questions for students who want to go further.
pub const REFLECTION: [&str; 4] = [
    "What surprised you most in this lab, and why?",
    "If you could train the toy model for ten times longer, what would you expect to change in the samples? What would not change?",
    "Diffusion models can create convincing fake images. Name one risk of that and one way to reduce it.",
    "Which part of the lab would you explain differently to a friend, and how?",
];

/// What to check before handing in.
pub const CHECKLIST: [&str; 6] = [
    "Your name and the date are filled in.",
    "All 25 questions have an answer in your own words (the measured values alone are not answers).",
    "Q4, Q10 and Q16 record what you predicted before you looked, even if the prediction was wrong.",
    "Where a question asks you to compare, you name both sides and say which is better or larger.",
    "Answers that refer to a figure name it (e.g. \"noising.png, t = 150\").",
    "Your report folder (index.html and the module folders) is kept with the sheet.",
];

impl Question {
    /// "Q7 · Signal-to-noise ratio." (no extra full stop after a question mark).
    pub fn heading(&self) -> String {
        let stop = if self.topic.ends_with('?') { "" } else { "." };
        format!("Q{} · {}{stop}", self.number, self.topic)
    }
}

/// The questions of one part, in order.
pub fn of_part(part: Part) -> impl Iterator<Item = &'static Question> {
    QUESTIONS.iter().filter(move |q| q.part == part)
}
