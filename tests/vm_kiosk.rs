//! A display box (issue: kiosks): the base archive and the hardware archive,
//! loaded one after the other as a bootloader does, boot a VM with QEMU's
//! standard VGA. The init's coldplug finds the bochs DRM driver in the
//! hardware archive (no option), the module options on the command line
//! reach it (`bochs.defx`/`defy` set the mode), a container fills the screen
//! through the DRM fbdev emulation (/dev/fb0) with two colour bands, and
//! QEMU's screendump (QMP) shows exactly those pixels. The same container
//! checks that the firmware files are where the kernel looks for them.
//!
//! Needs: the base initramfs, `out/hardware.linux_amd64.cpio*`
//! (`$B2C_HARDWARE` overrides), the registry with the demo image.

#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::path::PathBuf;

use common::{demo_image, require_registry, Ppm, Qmp, Vm, VmConfig};

/// Top half: orange (R, G, B); bottom half: azure.
const TOP: [u8; 3] = [255, 128, 0];
const BOTTOM: [u8; 3] = [0, 128, 255];

/// How many pixels differ from the two bands.
fn wrong_pixels(image: &Ppm) -> usize {
    let mut wrong = 0;
    for y in 0..image.height {
        let want = if y < image.height / 2 { TOP } else { BOTTOM };
        for x in 0..image.width {
            if image.at(x, y) != want {
                wrong += 1;
            }
        }
    }
    wrong
}

#[test]
fn kiosk_container_draws_on_the_screen_through_the_hardware_archive() {
    require_registry();
    let base = common::initrd();
    let hardware = common::hardware_archive();
    let dir = std::env::temp_dir().join(format!("b2c-kiosk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("qmp.sock");
    let shot = dir.join("screen.ppm");
    // XRGB8888 in memory is B, G, R, X. The pattern is doubled up to 4 MiB,
    // then the top half of the screen gets one colour, the bottom the other,
    // in one write(2): Linux 6.1's fbdev emulation does not flush a write
    // that starts inside a line and ends at the end of one (its damage
    // rectangle comes out empty), which chunked writes hit.
    // printf gets \NNN escapes (the backslashes are doubled for sh).
    let draw = "fb=/sys/class/graphics/fb0; \
        read stride < $fb/stride; read bpp < $fb/bits_per_pixel; \
        h=$(cut -d, -f2 $fb/virtual_size); half=$((stride * h / 2)); \
        echo kiosk-fb $(cat $fb/virtual_size) bpp=$bpp; \
        printf \\\\000\\\\200\\\\377\\\\000 > /tmp/a; printf \\\\377\\\\200\\\\000\\\\000 > /tmp/b; \
        for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do \
        cat /tmp/a /tmp/a > /tmp/t; mv /tmp/t /tmp/a; cat /tmp/b /tmp/b > /tmp/t; mv /tmp/t /tmp/b; done; \
        { head -c $half /tmp/a; head -c $half /tmp/b; } > /tmp/img; \
        dd if=/tmp/img of=/dev/fb0 bs=$((half * 2)) 2> /dev/null && echo kiosk-drawn; \
        ls /fw/rtl_nic/rtl8168h-2.fw.xz /fw/i915 > /dev/null && echo kiosk-firmware-present; \
        sleep 20";
    let cmdline = format!(
        "vt.global_cursor_default=0 bochs.defx=800 bochs.defy=600 \
         b2c.run=\"--tls-verify=false -v /usr/lib/firmware:/fw:ro {} sh -c '{draw}'\"",
        demo_image()
    );
    let mut vm = Vm::boot(
        "kiosk",
        VmConfig {
            cmdline,
            initrd: Some(PathBuf::from(format!(
                "{},{}",
                base.display(),
                hardware.display()
            ))),
            qemu_args: vec![
                // Without EDID, bochs takes its mode from defx/defy.
                "-device".into(),
                "VGA,edid=off".into(),
                "-qmp".into(),
                format!("unix:{},server=on,wait=off", socket.display()),
            ],
            ..Default::default()
        },
    );
    // Printed as the module is loaded, before coldplug's summary.
    let options = vm.wait_for("bochs: options from the kernel command line:");
    assert!(
        options.text.ends_with(": defx=800 defy=600"),
        "{}",
        options.text
    );
    let coldplug = vm.wait_for("Coldplug loaded");
    assert!(
        coldplug.text.split_whitespace().any(|m| m == "bochs"),
        "bochs not loaded by coldplug: {}",
        coldplug.text
    );
    let fb = vm.wait_for_start("kiosk-fb ");
    assert_eq!(
        fb.text.trim(),
        "kiosk-fb 800,600 bpp=32",
        "framebuffer: {}",
        fb.text
    );
    vm.wait_for_start("kiosk-drawn");
    // The fbdev emulation copies the written pages to the screen a little
    // later (deferred I/O): screenshots until the pattern is whole, 10 s at
    // most.
    let mut qmp = Qmp::connect(&socket);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (image, wrong) = loop {
        qmp.execute(&format!(
            "{{\"execute\": \"screendump\", \"arguments\": {{\"filename\": \"{}\"}}}}",
            shot.display()
        ));
        let image = Ppm::parse(&std::fs::read(&shot).unwrap());
        let wrong = wrong_pixels(&image);
        if wrong == 0 || std::time::Instant::now() > deadline {
            break (image, wrong);
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_eq!((image.width, image.height), (800, 600), "screen size");
    assert_eq!(
        wrong,
        0,
        "{wrong} pixels differ from the pattern (top-left {:?}, bottom-right {:?}); the screenshot: {}",
        image.at(0, 0),
        image.at(image.width - 1, image.height - 1),
        shot.display()
    );
    vm.wait_for_start("kiosk-firmware-present");
    vm.wait_for("Execution is over, pipeline status: 0");
    vm.expect_clean_poweroff();
    let _ = std::fs::remove_dir_all(&dir);
}
