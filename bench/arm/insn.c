/* QEMU TCG plugin (API v1, QEMU 7.2): counts guest instructions between marker syscalls.
 * The guest calls syscall(4242, 1) to start a span and syscall(4242, 2) to end it; each span's
 * count is appended to out=FILE, then its count per stage: syscall(4242, 3, K) says that stage K
 * (0-15, edgesay.runtime.markers.STAGES) runs from now on. Inline counting: run the emulator on
 * one host core. */
#include "qemu_plugin.h"
#include <stdio.h>
#include <string.h>
static uint64_t count, start, mark, stages[16];
static unsigned current;
static const char *out = "/dev/stderr";
static void trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &count, qemu_plugin_tb_n_insns(tb));
}
static void sys(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1, uint64_t a2, uint64_t a3,
                uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8) {
    if (num != 4242) return;
    if (a1 == 1) { start = mark = count; current = 0; memset(stages, 0, sizeof stages); }
    if (a1 == 3) { stages[current] += count - mark; mark = count; current = a2 < 16 ? (unsigned)a2 : 15; }
    if (a1 == 2) {
        stages[current] += count - mark; mark = count;
        FILE *f = fopen(out, "a");
        if (f) {
            fprintf(f, "span %llu\n", (unsigned long long)(count - start));
            for (int k = 0; k < 16; k++) if (stages[k]) fprintf(f, "stage %d %llu\n", k, (unsigned long long)stages[k]);
            fclose(f);
        }
    }
}
static void done(qemu_plugin_id_t id, void *p) {
    FILE *f = fopen(out, "a"); if (f) { fprintf(f, "total %llu\n", (unsigned long long)count); fclose(f); }
}
__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    for (int i = 0; i < argc; i++) if (!strncmp(argv[i], "out=", 4)) out = argv[i] + 4;
    qemu_plugin_register_vcpu_tb_trans_cb(id, trans);
    qemu_plugin_register_vcpu_syscall_cb(id, sys);
    qemu_plugin_register_atexit_cb(id, done, NULL);
    return 0;
}
