//! MNIST: IDX parsing (gzip or raw), where the files are found (flag, env, cache, download),
//! selection of splits and digits, resizing, and pixel scaling.
