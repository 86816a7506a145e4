//! Hardware decoding on NVIDIA GPUs (NVDEC), through ffmpeg's CUDA hardware decoder: takes a
//! video stream's parameters, gives an ffmpeg decoder whose frames are decoded on the GPU,
//! and copies each frame down to the CPU as NV12 ([`download`]). [`open`] is the one way in;
//! every reason it cannot be used comes back as one line for `report.json`
//! (`decoder_reason`), and the video is then decoded on the CPU.
//!
//! Why the frames come down to the CPU instead of going straight to the preprocess shader:
//! the shader runs in wgpu, which cannot read CUDA memory (that would need CUDA/Vulkan
//! external-memory interop, which wgpu does not expose). NVDEC still takes the decoding off
//! the CPU; the NV12 copy (1.5 bytes a pixel, the size of the YUV planes the CPU decoder
//! gives) goes on through the existing YUV path: planes to the shader, or RGB by swscale for
//! the CPU preprocess.
//!
//! The CUDA device is made once per process and shared by every decoder (each holds a
//! reference): making one costs a CUDA context, far too much to pay per short clip.

use std::sync::OnceLock;

use video_rs::ffmpeg::{self, ffi};
use video_rs::frame::RawFrame;

/// ffmpeg's CUDA device context (an `AVBufferRef`, reference counted by ffmpeg).
pub(super) struct Device(*mut ffi::AVBufferRef);

// SAFETY: the buffer is only read (a new reference per decoder, counted atomically by
// ffmpeg) and never freed; ffmpeg's CUDA device may be used from any thread (it pushes its
// context around each call).
unsafe impl Send for Device {}
unsafe impl Sync for Device {}

static DEVICE: OnceLock<Result<Device, String>> = OnceLock::new();

/// The process's CUDA device for ffmpeg, made on first use; `Err` says why there is none.
pub(super) fn device() -> Result<&'static Device, String> {
    DEVICE.get_or_init(make_device).as_ref().map_err(Clone::clone)
}

fn make_device() -> Result<Device, String> {
    let cuda = ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_CUDA;
    let mut kind = ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_NONE;
    let mut built_with = false;
    loop {
        // SAFETY: walks ffmpeg's static list of device types.
        kind = unsafe { ffi::av_hwdevice_iterate_types(kind) };
        if kind == ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_NONE {
            break;
        }
        built_with |= kind == cuda;
    }
    if !built_with {
        return Err("this ffmpeg was built without CUDA support".into());
    }
    // ffmpeg's own attempt logs errors when there is no driver (as on any machine without an
    // NVIDIA GPU): ask the loader first, quietly.
    // SAFETY: loading the driver library runs its initialisers only; it is unloaded at once.
    if unsafe { libloading::Library::new("libcuda.so.1") }.is_err() {
        return Err("no CUDA device (no NVIDIA driver: libcuda.so.1 not found)".into());
    }
    let mut ptr: *mut ffi::AVBufferRef = std::ptr::null_mut();
    // SAFETY: `ptr` receives a new device context or stays null on failure.
    let r = unsafe { ffi::av_hwdevice_ctx_create(&mut ptr, cuda, std::ptr::null(), std::ptr::null_mut(), 0) };
    if r < 0 || ptr.is_null() {
        return Err(format!("no CUDA device (ffmpeg: {})", ffmpeg::Error::from(r)));
    }
    Ok(Device(ptr))
}

/// Whether ffmpeg's decoder for this stream can decode on a CUDA device (`avcodec_get_hw_config`).
/// Answers without a GPU, from ffmpeg's tables.
pub(super) fn has_cuda_decoder(codec: &ffmpeg::codec::codec::Codec) -> bool {
    (0..)
        .map_while(|i| {
            // SAFETY: ffmpeg returns null past the last configuration.
            let config = unsafe { ffi::avcodec_get_hw_config(codec.as_ptr(), i) };
            // SAFETY: non-null configurations point into ffmpeg's static tables.
            (!config.is_null()).then(|| unsafe { *config })
        })
        .any(|c| {
            c.device_type == ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_CUDA
                && (c.methods & ffi::AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX as i32) != 0
        })
}

/// Opens the decoder for `params` on NVDEC. `Err`: why not, in one line. A stream NVDEC
/// turns down later (a profile the chip lacks) is decoded by ffmpeg in software instead
/// (see [`pick_cuda`]); the caller sees that in the frames' format.
pub(super) fn open(params: ffmpeg::codec::Parameters) -> Result<ffmpeg::decoder::Video, String> {
    let mut ctx = ffmpeg::codec::Context::from_parameters(params).map_err(|e| e.to_string())?;
    let id = ctx.id();
    let codec = ffmpeg::decoder::find(id).ok_or_else(|| format!("ffmpeg has no decoder for {id:?}"))?;
    if !has_cuda_decoder(&codec) {
        return Err(format!("codec {} has no CUDA decoder in this ffmpeg", codec.name()));
    }
    let device = device()?;
    // SAFETY: the context is not open yet; it takes its own reference to the device (freed
    // with the context) and calls `pick_cuda` from its decoding thread.
    unsafe {
        let raw = ctx.as_mut_ptr();
        (*raw).hw_device_ctx = ffi::av_buffer_ref(device.0);
        (*raw).get_format = Some(pick_cuda);
    }
    ctx.decoder().video().map_err(|e| format!("the CUDA decoder did not open ({e})"))
}

/// ffmpeg's `get_format` callback: CUDA frames when offered; else (or when ffmpeg asks again
/// after NVDEC refused the stream) the first software format, as ffmpeg's default would.
unsafe extern "C" fn pick_cuda(_: *mut ffi::AVCodecContext, formats: *const ffi::AVPixelFormat) -> ffi::AVPixelFormat {
    let mut software = ffi::AVPixelFormat::AV_PIX_FMT_NONE;
    let mut p = formats;
    // SAFETY: ffmpeg passes a list ended by AV_PIX_FMT_NONE.
    unsafe {
        while *p != ffi::AVPixelFormat::AV_PIX_FMT_NONE {
            if *p == ffi::AVPixelFormat::AV_PIX_FMT_CUDA {
                return *p;
            }
            let desc = ffi::av_pix_fmt_desc_get(*p);
            let hardware = !desc.is_null() && ((*desc).flags & ffi::AV_PIX_FMT_FLAG_HWACCEL as u64) != 0;
            if !hardware && software == ffi::AVPixelFormat::AV_PIX_FMT_NONE {
                software = *p;
            }
            p = p.add(1);
        }
    }
    software
}

/// The frame in CPU memory: copied down as NV12 when it lies on the GPU (`true`), as it is
/// otherwise (ffmpeg decoded it in software).
pub(super) fn download(frame: RawFrame) -> Result<(RawFrame, bool), ffmpeg::Error> {
    if frame.format() != ffmpeg::format::Pixel::CUDA {
        return Ok((frame, false));
    }
    let mut cpu = RawFrame::empty();
    cpu.set_format(ffmpeg::format::Pixel::NV12);
    // SAFETY: `cpu` has no buffers, so ffmpeg allocates them at the frame's size.
    let r = unsafe { ffi::av_hwframe_transfer_data(cpu.as_mut_ptr(), frame.as_ptr(), 0) };
    if r < 0 {
        return Err(ffmpeg::Error::from(r));
    }
    Ok((cpu, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_gpu_here_means_a_reason_not_a_device() {
        crate::decode::init();
        // CI has no NVIDIA driver; on a GPU node this test says nothing.
        if std::path::Path::new("/dev/nvidiactl").exists() {
            return;
        }
        let reason = device().err().expect("no CUDA device without a GPU");
        assert!(reason.contains("CUDA"), "{reason}");
    }

    #[test]
    fn the_callback_prefers_cuda_else_the_first_software_format() {
        use ffi::AVPixelFormat::*;
        let pick = |list: &[ffi::AVPixelFormat]| unsafe { pick_cuda(std::ptr::null_mut(), list.as_ptr()) };
        assert_eq!(pick(&[AV_PIX_FMT_VDPAU, AV_PIX_FMT_CUDA, AV_PIX_FMT_YUV420P, AV_PIX_FMT_NONE]), AV_PIX_FMT_CUDA);
        assert_eq!(pick(&[AV_PIX_FMT_VDPAU, AV_PIX_FMT_YUV420P, AV_PIX_FMT_NV12, AV_PIX_FMT_NONE]), AV_PIX_FMT_YUV420P);
        assert_eq!(pick(&[AV_PIX_FMT_NONE]), AV_PIX_FMT_NONE);
    }
}
