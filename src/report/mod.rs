//! The lab report (`index.html`) and the answer sheet.
