//! Gives the shared library its soname, `libwebsocket.so.MAJOR` (on macOS its
//! install name, `@rpath/libwebsocket.MAJOR.dylib`), so programs linked against
//! one major version keep loading it across minor releases. `make install`
//! installs the file under the full version and the soname as a link to it.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    match std::env::var("CARGO_CFG_TARGET_OS").as_deref() {
        Ok("macos") | Ok("ios") => println!(
            "cargo:rustc-cdylib-link-arg=-Wl,-install_name,@rpath/libwebsocket.{major}.dylib"
        ),
        Ok("windows") => {}
        _ => println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libwebsocket.so.{major}"),
    }
}
