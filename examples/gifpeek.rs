use image::AnimationDecoder;
fn main() {
    let f = std::fs::File::open(std::env::args().nth(1).unwrap()).unwrap();
    let dec = image::codecs::gif::GifDecoder::new(std::io::BufReader::new(f)).unwrap();
    let frames: Vec<_> = dec.into_frames().collect::<Result<_,_>>().unwrap();
    let total: u32 = frames.iter().map(|f| { let (n,d) = f.delay().numer_denom_ms(); n/d }).sum();
    println!("{} frames, {} ms", frames.len(), total);
    for (i, k) in [0usize, frames.len()/2, frames.len()-1].iter().enumerate() {
        frames[*k].buffer().save(format!("/tmp/gif_{i}.png")).unwrap();
    }
}
