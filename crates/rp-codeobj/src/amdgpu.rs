//! AMDGPU code objects (ELF, `e_machine` 224), docs/code-objects.md.

use crate::{Error, Result};
use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};
use object::LittleEndian as LE;
use rp_target_id::{Feature, TargetId};

mod mach;

/// `EM_AMDGPU`.
pub const EM_AMDGPU: u16 = 224;
const ELFOSABI_AMDGPU_HSA: u8 = 64;
const NT_AMD_HSA_ISA_VERSION: u32 = 3;
const NT_AMDGPU_METADATA: u32 = 32;

/// What a code object's header and notes say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// `EI_OSABI`: 64 HSA, 65 PAL, 66 Mesa.
    pub osabi: u8,
    /// Code object version (2–6) for HSA code objects; `None` for PAL/Mesa.
    pub code_object_version: Option<u8>,
    /// Raw `e_flags`.
    pub e_flags: u32,
    /// `EF_AMDGPU_MACH`.
    pub mach: u8,
    /// The target id the header encodes, when the processor is known.
    pub target: Option<TargetId>,
    /// The processor as text, `unknown MACH 0x..` when not in the knowledge base.
    pub processor_text: String,
    /// `EF_AMDGPU_GENERIC_VERSION` (COv6 generic targets).
    pub generic_version: Option<u8>,
    /// `amdhsa.target` from the metadata note (COv4+), without the triple.
    pub metadata_target: Option<String>,
}

/// True if `data` starts like a 64-bit little-endian AMDGPU ELF.
pub fn is_amdgpu_elf(data: &[u8]) -> bool {
    data.len() >= 20
        && data.starts_with(b"\x7fELF")
        && data[4] == 2
        && data[5] == 1
        && u16::from_le_bytes([data[18], data[19]]) == EM_AMDGPU
}

fn feature_v4(field: u32, on: u32, off: u32) -> Feature {
    // 0 = unsupported and ANY both mean "not pinned".
    if field == on {
        Feature::On
    } else if field == off {
        Feature::Off
    } else {
        Feature::Any
    }
}

/// Parse a code object. `data` may be only a prefix of the object (as when it comes
/// from a stream): the header is required, the notes are read when present.
pub fn parse(data: &[u8]) -> Result<Info> {
    if !is_amdgpu_elf(data) {
        return Err(Error::BadMagic("AMDGPU ELF"));
    }
    // Read in place at any address (object's `unaligned` feature): never copied.
    let hdr = elf::FileHeader64::<LE>::parse(data).map_err(|_| Error::Truncated("ELF header"))?;
    let osabi = hdr.e_ident().os_abi;
    let abi = hdr.e_ident().abi_version;
    let e_flags = hdr.e_flags(LE);
    let mach = (e_flags & 0xff) as u8;
    let code_object_version = (osabi == ELFOSABI_AMDGPU_HSA).then(|| abi.saturating_add(2));
    let co = code_object_version.unwrap_or(0);

    let mut isa_note: Option<String> = None;
    let mut metadata_target = None;
    if let Ok(phdrs) = hdr.program_headers(LE, data) {
        for ph in phdrs {
            let Ok(Some(mut notes)) = ph.notes(LE, data) else {
                continue;
            };
            while let Ok(Some(note)) = notes.next() {
                match (note.name(), note.n_type(LE)) {
                    (b"AMD", NT_AMD_HSA_ISA_VERSION) => isa_note = isa_from_note(note.desc()),
                    (b"AMDGPU", NT_AMDGPU_METADATA) => {
                        metadata_target = metadata_target_from(note.desc())
                    }
                    _ => {}
                }
            }
        }
    }

    let (processor, xnack, sramecc) = if co == 2 && mach == 0 {
        // COv2: the processor lives in the ISA note; bit 0 is xnack.
        let p = isa_note.ok_or(Error::Invalid("code object v2 without an ISA note"))?;
        let x = if e_flags & 0x1 != 0 {
            Feature::On
        } else {
            Feature::Any
        };
        (Some(p), x, Feature::Any)
    } else {
        let name = mach::by_mach(mach).map(|(name, _)| name.to_string());
        let (x, s) = match co {
            // COv3 sets the xnack bit for "on" and for "any" alike, so it pins nothing.
            3 => (
                Feature::Any,
                if e_flags & 0x200 != 0 {
                    Feature::On
                } else {
                    Feature::Any
                },
            ),
            2 => (
                if e_flags & 0x1 != 0 {
                    Feature::On
                } else {
                    Feature::Any
                },
                Feature::Any,
            ),
            _ => (
                feature_v4(e_flags & 0x300, 0x300, 0x200),
                feature_v4(e_flags & 0xc00, 0xc00, 0x800),
            ),
        };
        (name, x, s)
    };
    let generic_version = match mach::by_mach(mach) {
        Some((_, true)) if co >= 6 => Some((e_flags >> 24) as u8),
        _ => None,
    };
    let processor_text = processor
        .clone()
        .unwrap_or_else(|| format!("unknown MACH {mach:#04x}"));
    let target = processor.map(|p| TargetId {
        processor: p,
        xnack,
        sramecc,
    });
    Ok(Info {
        osabi,
        code_object_version,
        e_flags,
        mach,
        target,
        processor_text,
        generic_version,
        metadata_target,
    })
}

fn isa_from_note(desc: &[u8]) -> Option<String> {
    // u16 vendor_name_size, u16 architecture_name_size, u32 major, minor, stepping.
    let rd = |at: usize| Some(u32::from_le_bytes(desc.get(at..at + 4)?.try_into().ok()?));
    let (major, minor, step) = (rd(4)?, rd(8)?, rd(12)?);
    (major > 0 && minor < 16 && step < 16).then(|| format!("gfx{major}{minor:x}{step:x}"))
}

/// Find the `amdhsa.target` string in a MessagePack metadata map without decoding the
/// whole map: the key is followed directly by its string value. LLVM writes the map
/// keys sorted (`amdhsa.kernels`, `amdhsa.printf`, `amdhsa.target`, `amdhsa.version`),
/// so the key sits after the large kernel list: search from the end.
fn metadata_target_from(desc: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"amdhsa.target";
    let pos = memchr::memmem::rfind(desc, KEY)? + KEY.len();
    let tag = *desc.get(pos)?;
    let (len, start) = match tag {
        0xa0..=0xbf => ((tag & 0x1f) as usize, pos + 1),
        0xd9 => (*desc.get(pos + 1)? as usize, pos + 2),
        0xda => (
            u16::from_be_bytes(desc.get(pos + 1..pos + 3)?.try_into().ok()?) as usize,
            pos + 3,
        ),
        _ => return None,
    };
    let s = std::str::from_utf8(desc.get(start..start + len)?).ok()?;
    let s = s.strip_prefix("amdgcn-amd-amdhsa--").unwrap_or(s);
    Some(s.to_string())
}
