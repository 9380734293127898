//! The four MNIST files difflab needs, their checksums, and what to tell a user who has none:
//! shared by the lookup ([`super::locate`]) and the download ([`super::download`]).

/// The environment variable naming a folder with the MNIST files.
pub const ENV_MNIST_DIR: &str = "DIFFLAB_MNIST_DIR";

/// One of the four MNIST files and the SHA-256 of its decompressed content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MnistFile {
    /// The file name without `.gz`, e.g. `train-images-idx3-ubyte`.
    pub name: &'static str,
    /// Lower-case hex SHA-256 of the decompressed file.
    pub sha256: &'static str,
}

/// The four MNIST files: training images and labels, test images and labels.
pub const MNIST_FILES: [MnistFile; 4] = [
    MnistFile {
        name: "train-images-idx3-ubyte",
        sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    },
    MnistFile {
        name: "train-labels-idx1-ubyte",
        sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    },
    MnistFile {
        name: "t10k-images-idx3-ubyte",
        sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    },
    MnistFile {
        name: "t10k-labels-idx1-ubyte",
        sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
];

/// What to do without network: the four file names, the variable and the flag.
pub fn offline_hint() -> String {
    let names: Vec<&str> = MNIST_FILES.iter().map(|f| f.name).collect();
    format!(
        "To work offline, put the four MNIST files {} (raw or .gz) in a folder and pass \
         --mnist-dir DIR or set {ENV_MNIST_DIR}=DIR.",
        names.join(", ")
    )
}
