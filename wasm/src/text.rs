//! Lists of names joined into message text. A small loop instead of std's `join`, which is a
//! kilobyte of code per element type (`&str` and `String` lists each brought a copy into the
//! sampler-only wasm; wasm/BENCHMARKS.md "Package sizes").

/// `items` separated by `sep`.
pub(crate) fn join<S: AsRef<str>>(items: &[S], sep: &str) -> String {
    let mut out = String::new();
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(s.as_ref());
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn joins_as_std_does() {
        let strs: [&[&str]; 3] = [&[], &["a"], &["a", "bc", ""]];
        for s in strs {
            assert_eq!(super::join(s, ", "), s.join(", "));
            let owned: Vec<String> = s.iter().map(|x| x.to_string()).collect();
            assert_eq!(super::join(&owned, "/"), owned.join("/"));
        }
    }
}
