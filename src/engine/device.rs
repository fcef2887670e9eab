//! From a [`DeviceChoice`] to a burn [`Device`], with a human description.
//!
//! `auto` uses wgpu only when a real hardware GPU (discrete, integrated or
//! virtual) is present; software adapters (lavapipe, llvmpipe, SwiftShader,
//! anything wgpu reports as a CPU) are never picked automatically, only with
//! `wgpu-software`. Otherwise it is burn's `flex` CPU backend. Probing never
//! panics: a machine without Vulkan, or without any adapter, gets `flex`, and
//! [`ResolvedDevice::note`] says why.
//!
//! Probing stays quiet on a headless machine: it asks the primary APIs only
//! (no OpenGL/EGL instance), and the binary calls [`quiet_vulkan_env`] first
//! thing in `main` (see there for the library that would otherwise print
//! `error: XDG_RUNTIME_DIR is invalid or not set in the environment.`).

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use burn::tensor::wgpu::wgpu;
use burn::tensor::{Device, DeviceKind};

use crate::engine::config::DeviceChoice;

/// A device ready for tensors, and what to call it.
#[derive(Debug, Clone)]
pub struct ResolvedDevice {
    pub device: Device,
    /// e.g. `flex (CPU, 2 threads)` or `wgpu: NVIDIA GeForce RTX 4090`.
    pub description: String,
    /// Whether this is the flex CPU backend (bench uses it for the FLOP estimate).
    pub is_cpu: bool,
    /// Why `auto` settled on this device when it is not the obvious one, e.g. `no hardware GPU
    /// adapter found (software Vulkan llvmpipe (LLVM 15.0.6, 256 bits) ignored; --device
    /// wgpu-software runs on it)`. `None` for an explicit choice or a hardware GPU.
    pub note: Option<String>,
}

impl ResolvedDevice {
    /// The description, followed by the note when there is one: what to tell the user once.
    pub fn summary(&self) -> String {
        match &self.note {
            Some(n) => format!("{} — {n}", self.description),
            None => self.description.clone(),
        }
    }
}

/// A wgpu adapter as the probe saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    pub name: String,
    pub kind: AdapterKind,
    pub backend: String,
}

/// The kind of a wgpu adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterKind {
    Discrete,
    Integrated,
    Virtual,
    /// A software rasteriser or anything unknown: never auto-picked.
    Software,
}

impl AdapterSummary {
    pub fn is_hardware(&self) -> bool {
        self.kind != AdapterKind::Software
    }
}

const SOFTWARE_NAMES: &[&str] =
    &["llvmpipe", "lavapipe", "softpipe", "swiftshader", "software", "microsoft basic render"];

/// Classifies an adapter from its reported type and name.
pub fn classify(device_type: wgpu::DeviceType, name: &str) -> AdapterKind {
    let lower = name.to_ascii_lowercase();
    if SOFTWARE_NAMES.iter().any(|s| lower.contains(s)) {
        return AdapterKind::Software;
    }
    match device_type {
        wgpu::DeviceType::DiscreteGpu => AdapterKind::Discrete,
        wgpu::DeviceType::IntegratedGpu => AdapterKind::Integrated,
        wgpu::DeviceType::VirtualGpu => AdapterKind::Virtual,
        wgpu::DeviceType::Cpu | wgpu::DeviceType::Other => AdapterKind::Software,
    }
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on this thread (adapter enumeration is async in wgpu).
fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park_timeout(std::time::Duration::from_millis(10)),
        }
    }
}

/// The environment variable the binary sets at the start of `main`, if any, so that probing for a
/// GPU prints nothing on a headless machine.
///
/// Mesa's implicit Vulkan layer `VK_LAYER_MESA_device_select` (shipped with mesa-vulkan-drivers,
/// loaded into every Vulkan instance) reorders the physical devices so that the one driving the
/// desktop comes first. To find that one, when the instance enables `VK_KHR_wayland_surface`
/// (wgpu-hal always enables it on Linux), it calls libwayland-client's `wl_display_connect(NULL)`
/// inside `vkEnumeratePhysicalDevices`, and without `XDG_RUNTIME_DIR` libwayland prints
/// `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` straight to fd 2, from C.
/// Without a Wayland session the layer cannot learn
/// anything there anyway, and this program picks its adapter itself by kind, so the layer is
/// switched off with `NODEVICE_SELECT=1`, the off switch its own manifest declares
/// (`disable_environment`), read by the Vulkan loader at each `vkCreateInstance`. That avoids
/// the code path instead of hiding its output (redirecting fd 2 around the probe would also
/// swallow other threads' messages and real driver errors, and needs `unsafe` libc calls).
///
/// Returns `None` (leave the environment alone) when there is a Wayland session to find
/// (`XDG_RUNTIME_DIR` absolute, or `WAYLAND_DISPLAY` an absolute socket path), or when the user
/// already chose with `NODEVICE_SELECT` or `MESA_VK_DEVICE_SELECT`.
///
/// Setting a variable is only sound while no other thread runs, hence the split: this decides,
/// `main` sets it before anything else happens.
pub fn quiet_vulkan_env() -> Option<(&'static str, &'static str)> {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    let absolute = |name: &str| std::env::var_os(name).is_some_and(|v| std::path::Path::new(&v).is_absolute());
    let session = absolute("XDG_RUNTIME_DIR") || absolute("WAYLAND_DISPLAY");
    (!session && !set("NODEVICE_SELECT") && !set("MESA_VK_DEVICE_SELECT")).then_some(("NODEVICE_SELECT", "1"))
}

/// The adapters of the primary graphics API (Vulkan / Metal / DX12), probed once per process.
///
/// The instance is limited to those APIs: `Instance::default()` would also load libEGL and bring
/// up an OpenGL display, whose adapters the probe never asks for.
pub fn adapters() -> &'static [AdapterSummary] {
    static PROBE: OnceLock<Vec<AdapterSummary>> = OnceLock::new();
    PROBE.get_or_init(|| {
        std::panic::catch_unwind(|| {
            let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
                backends: wgpu::Backends::PRIMARY,
                ..wgpu::InstanceDescriptor::new_without_display_handle()
            });
            block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY))
                .into_iter()
                .map(|a| {
                    let info = a.get_info();
                    AdapterSummary {
                        kind: classify(info.device_type, &info.name),
                        name: info.name,
                        backend: format!("{:?}", info.backend),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
    })
}

/// Threads the flex backend uses (rayon's global pool).
pub fn cpu_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn flex() -> ResolvedDevice {
    let n = cpu_threads();
    ResolvedDevice {
        device: Device::flex(),
        description: format!("flex (CPU, {n} thread{})", if n == 1 { "" } else { "s" }),
        is_cpu: true,
        note: None,
    }
}

/// Why `auto` found no hardware GPU, in words.
fn no_hardware_note(list: &[AdapterSummary]) -> String {
    if list.is_empty() {
        return "no GPU adapter found".into();
    }
    let soft: Vec<String> = list.iter().map(|a| format!("{} {}", a.backend, a.name)).collect();
    format!(
        "no hardware GPU adapter found (software {} ignored; --device wgpu-software runs on {})",
        soft.join(", "),
        if soft.len() == 1 { "it" } else { "them" }
    )
}

/// Initialised wgpu devices, by kind: the runtime refuses a second `init`.
fn wgpu_device(kind: DeviceKind) -> Result<Device, String> {
    static CACHE: OnceLock<Mutex<Vec<(DeviceKind, Device)>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    let mut guard = cache.lock().map_err(|_| "the wgpu device cache is poisoned".to_string())?;
    if let Some((_, d)) = guard.iter().find(|(k, _)| *k == kind) {
        return Ok(d.clone());
    }
    let wanted = kind.clone();
    let init = std::panic::catch_unwind(move || Device::wgpu_options().device_kind(wanted).init())
        .map_err(|_| "wgpu panicked while opening the adapter".to_string())?;
    let device = init.map_err(|e| format!("wgpu could not open the adapter: {e}"))?;
    guard.push((kind, device.clone()));
    Ok(device)
}

fn wgpu_kind(kind: AdapterKind, index: usize) -> DeviceKind {
    match kind {
        AdapterKind::Discrete => DeviceKind::DiscreteGpu(index),
        AdapterKind::Integrated => DeviceKind::IntegratedGpu(index),
        AdapterKind::Virtual => DeviceKind::VirtualGpu(index),
        AdapterKind::Software => DeviceKind::Cpu,
    }
}

fn first_hardware() -> Option<(AdapterSummary, DeviceKind)> {
    let list = adapters();
    for wanted in [AdapterKind::Discrete, AdapterKind::Integrated, AdapterKind::Virtual] {
        if let Some(a) = list.iter().find(|a| a.kind == wanted) {
            return Some((a.clone(), wgpu_kind(wanted, 0)));
        }
    }
    None
}

/// Resolves a choice to a device. `auto` never fails (it falls back to flex);
/// `wgpu` fails when there is no hardware GPU, `wgpu-software` when there is no adapter at all.
pub fn resolve(choice: DeviceChoice) -> Result<ResolvedDevice, String> {
    match choice {
        DeviceChoice::Flex => Ok(flex()),
        DeviceChoice::Auto => match first_hardware() {
            Some((a, kind)) => match wgpu_device(kind) {
                Ok(device) => {
                    Ok(ResolvedDevice { device, description: format!("wgpu: {}", a.name), is_cpu: false, note: None })
                }
                Err(e) => Ok(ResolvedDevice { note: Some(format!("the GPU {} was found but {e}", a.name)), ..flex() }),
            },
            None => Ok(ResolvedDevice { note: Some(no_hardware_note(adapters())), ..flex() }),
        },
        DeviceChoice::Wgpu => {
            let Some((a, kind)) = first_hardware() else {
                let soft: Vec<&str> = adapters().iter().map(|a| a.name.as_str()).collect();
                return Err(if soft.is_empty() {
                    "no GPU adapter was found (wgpu sees no Vulkan/Metal/DX12 device); use --device flex".into()
                } else {
                    format!(
                        "no hardware GPU was found, only software adapters ({}); use --device wgpu-software to run on them anyway, or --device flex",
                        soft.join(", ")
                    )
                });
            };
            let device = wgpu_device(kind)?;
            Ok(ResolvedDevice { device, description: format!("wgpu: {}", a.name), is_cpu: false, note: None })
        }
        DeviceChoice::WgpuSoftware => {
            let list = adapters();
            let Some(a) = list.iter().find(|a| a.kind == AdapterKind::Software).or_else(|| list.first()) else {
                return Err("no wgpu adapter was found, not even a software one (install mesa-vulkan-drivers for lavapipe); use --device flex".into());
            };
            let kind = if a.kind == AdapterKind::Software { DeviceKind::Cpu } else { wgpu_kind(a.kind, 0) };
            let device = wgpu_device(kind)?;
            Ok(ResolvedDevice {
                device,
                description: format!("wgpu: {}", a.name),
                is_cpu: a.kind == AdapterKind::Software,
                note: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_adapters_are_never_hardware() {
        assert_eq!(classify(wgpu::DeviceType::Cpu, "llvmpipe (LLVM 17.0.6, 256 bits)"), AdapterKind::Software);
        assert_eq!(classify(wgpu::DeviceType::IntegratedGpu, "lavapipe"), AdapterKind::Software);
        assert_eq!(classify(wgpu::DeviceType::Other, "Unknown"), AdapterKind::Software);
        assert_eq!(classify(wgpu::DeviceType::DiscreteGpu, "NVIDIA GeForce RTX 4090"), AdapterKind::Discrete);
    }

    #[test]
    fn the_note_names_the_ignored_software_adapters() {
        assert_eq!(no_hardware_note(&[]), "no GPU adapter found");
        let lvp = AdapterSummary {
            name: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
            kind: AdapterKind::Software,
            backend: "Vulkan".into(),
        };
        assert_eq!(
            no_hardware_note(&[lvp]),
            "no hardware GPU adapter found (software Vulkan llvmpipe (LLVM 15.0.6, 256 bits) ignored; \
             --device wgpu-software runs on it)"
        );
    }

    #[test]
    fn flex_always_resolves() {
        let d = resolve(DeviceChoice::Flex).unwrap();
        assert!(d.description.starts_with("flex (CPU, "));
        assert!(d.is_cpu);
    }
}
