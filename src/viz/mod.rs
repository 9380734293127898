//! The figures' shared look: one style (fonts, colours, margins), plots, image grids and GIFs.
