/* A tiny "JIT": copies machine code into anonymous executable memory, announces it in
 * /tmp/perf-PID.map as a JIT runtime would, and burns CPU in it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* x86_64: mov rax, rdi; 1: dec rax; jnz 1b; ret */
static const unsigned char code[] = {0x48, 0x89, 0xf8, 0x48, 0xff, 0xc8, 0x75, 0xfb, 0xc3};

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 300;
    void *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return 2;
    memcpy(mem, code, sizeof code);
    char path[64];
    snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)getpid());
    FILE *map = fopen(path, "w");
    if (!map) return 3;
    fprintf(map, "%lx %zx jit_spin\n", (unsigned long)(uintptr_t)mem, sizeof code);
    fclose(map);
    uint64_t (*spin)(uint64_t) = (uint64_t (*)(uint64_t))mem;
    for (int i = 0; i < rounds; i++) spin(1000000);
    return 0;
}
