/* Two functions burning CPU 3:1, called from main through a helper. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static volatile uint64_t sink;

__attribute__((noinline)) static uint64_t spin(uint64_t n) {
    uint64_t x = 88172645463325252ull;
    for (uint64_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

__attribute__((noinline)) void heavy(uint64_t n) { sink += spin(3 * n); }
__attribute__((noinline)) void light(uint64_t n) { sink += spin(n); }

__attribute__((noinline)) void run(int rounds, uint64_t n) {
    for (int r = 0; r < rounds; r++) {
        heavy(n);
        light(n);
    }
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    int code = argc > 2 ? atoi(argv[2]) : 0;
    run(rounds, 200000);
    printf("%llu\n", (unsigned long long)sink);
    return code;
}
