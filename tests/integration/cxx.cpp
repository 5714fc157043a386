// cxx.cpp — C++ operator new/delete in all their forms, through pagepool when linked with it.
// Builds against the system allocator too (g++ tests/integration/cxx.cpp) to check the tests.
#include "../test.h"

#include <cstdint>
#include <cstring>
#include <dlfcn.h>
#include <malloc.h>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef PP_TEST_PAGEPOOL
#define PP_TEST_PAGEPOOL 0
#endif

static size_t vbig(size_t x) { volatile size_t v = x; return v; }

struct alignas(256) Aligned256 {
    unsigned char b[300];
};
struct alignas(4096) Aligned4K {
    unsigned char b[100];
};

static int counted_alive;
struct Counted {
    int v;
    Counted() : v(42) { counted_alive++; }
    ~Counted() { counted_alive--; }
};

TEST_BEGIN(test_is_pagepool)
{
    Dl_info info;
    std::memset(&info, 0, sizeof(info));
    void *(*volatile nw)(std::size_t) = &::operator new;
    expect_true(dladdr(reinterpret_cast<void *>(nw), &info) != 0, "dladdr(operator new)");
    printf("# operator new is from %s\n", info.dli_fname ? info.dli_fname : "?");
    if (PP_TEST_PAGEPOOL)
        expect_true(info.dli_fname && std::strstr(info.dli_fname, "pagepool"),
                    "operator new resolves to %s", info.dli_fname ? info.dli_fname : "?");
}
TEST_END

TEST_BEGIN(test_new_delete)
{
    for (size_t sz = 1; sz < 200000; sz = sz * 3 / 2 + 1) {
        unsigned char *p = static_cast<unsigned char *>(::operator new(sz));
        expect_ptr_not_null(p, "operator new(%zu)", sz);
        expect_zu_ge(malloc_usable_size(p), sz, "usable size of operator new(%zu)", sz);
        std::memset(p, 0x3c, sz);
        ::operator delete(p);
    }
    int *i = new int(7);
    expect_int_eq(*i, 7, "new int(7)");
    delete i;
    Counted *c = new Counted;
    expect_int_eq(counted_alive, 1, "constructor ran");
    delete c;
    expect_int_eq(counted_alive, 0, "destructor ran");
    ::operator delete(static_cast<void *>(nullptr));
    // new(0) returns a unique pointer
    void *a = ::operator new(0), *b = ::operator new(0);
    expect_ptr_not_null(a, "operator new(0)");
    expect_ptr_ne(a, b, "two operator new(0) are distinct");
    ::operator delete(a);
    ::operator delete(b);
}
TEST_END

TEST_BEGIN(test_new_array)
{
    Counted *c = new Counted[1000];
    expect_int_eq(counted_alive, 1000, "1000 constructed");
    expect_int_eq(c[999].v, 42, "last element");
    delete[] c;
    expect_int_eq(counted_alive, 0, "1000 destroyed");
    char *s = new char[100000];
    std::memset(s, 'x', 100000);
    delete[] s;
    double *d = new double[3 << 20]; // 24 MiB: huge
    d[0] = 1.0;
    d[(3 << 20) - 1] = 2.0;
    delete[] d;
    void *raw = ::operator new[](5000);
    std::memset(raw, 1, 5000);
    ::operator delete[](raw);
}
TEST_END

TEST_BEGIN(test_sized_delete)
{
    size_t sizes[] = {1, 16, 24, 100, 1000, 4096, 5000, 40000, 100000, 3 << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        void *p = ::operator new(sizes[i]);
        std::memset(p, 2, sizes[i]);
        ::operator delete(p, sizes[i]);
        p = ::operator new[](sizes[i]);
        std::memset(p, 3, sizes[i]);
        ::operator delete[](p, sizes[i]);
    }
    // sized delete through a class without a virtual destructor: compiler passes sizeof
    struct S { long x[7]; };
    for (int k = 0; k < 1000; k++) {
        S *s = new S();
        s->x[6] = k;
        delete s;
    }
}
TEST_END

TEST_BEGIN(test_aligned_new)
{
    std::vector<Aligned256 *> v;
    for (int k = 0; k < 100; k++) {
        Aligned256 *a = new Aligned256;
        expect_zu_eq(reinterpret_cast<uintptr_t>(a) % 256, 0, "new Aligned256 = %p", (void *)a);
        std::memset(a->b, k, sizeof(a->b));
        v.push_back(a);
    }
    for (size_t k = 0; k < v.size(); k++) {
        expect_int_eq(v[k]->b[299], (int)(unsigned char)k, "content of Aligned256 #%zu", k);
        delete v[k];
    }
    Aligned4K *arr = new Aligned4K[10];
    expect_zu_eq(reinterpret_cast<uintptr_t>(arr) % 4096, 0, "new Aligned4K[10]");
    delete[] arr;

    for (size_t al = 16; al <= (2u << 20); al <<= 1) {
        size_t sizes[] = {1, 100, 4096, 5000, 300000};
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            void *p = ::operator new(sizes[i], std::align_val_t(al));
            expect_zu_eq(reinterpret_cast<uintptr_t>(p) % al, 0, "operator new(%zu, align %zu) = %p",
                         sizes[i], al, p);
            std::memset(p, 4, sizes[i]);
            if (i % 2)
                ::operator delete(p, std::align_val_t(al));
            else
                ::operator delete(p, sizes[i], std::align_val_t(al));
            p = ::operator new[](sizes[i], std::align_val_t(al));
            expect_zu_eq(reinterpret_cast<uintptr_t>(p) % al, 0, "operator new[](%zu, align %zu)", sizes[i], al);
            std::memset(p, 5, sizes[i]);
            if (i % 2)
                ::operator delete[](p, sizes[i], std::align_val_t(al));
            else
                ::operator delete[](p, std::align_val_t(al));
        }
    }
    void *p = ::operator new(100, std::align_val_t(4096));
    expect_zu_eq(reinterpret_cast<uintptr_t>(p) % 4096, 0, "operator new(100, align 4096)");
    ::operator delete(p, std::align_val_t(4096));
    p = ::operator new(100, std::align_val_t(4096), std::nothrow);
    expect_zu_eq(reinterpret_cast<uintptr_t>(p) % 4096, 0, "nothrow operator new(100, align 4096)");
    ::operator delete(p, std::align_val_t(4096), std::nothrow);
}
TEST_END

TEST_BEGIN(test_nothrow_new)
{
    void *p = ::operator new(vbig(SIZE_MAX - 4096), std::nothrow);
    expect_ptr_null(p, "nothrow new(SIZE_MAX-4096)");
    p = ::operator new[](vbig(SIZE_MAX / 2), std::nothrow);
    expect_ptr_null(p, "nothrow new[](SIZE_MAX/2)");
    p = ::operator new(vbig(SIZE_MAX - 4096), std::align_val_t(64), std::nothrow);
    expect_ptr_null(p, "nothrow aligned new(SIZE_MAX-4096)");
    p = ::operator new(vbig(1000), std::nothrow);
    expect_ptr_not_null(p, "nothrow new(1000)");
    ::operator delete(p, std::nothrow);
    p = ::operator new[](vbig(1000), std::nothrow);
    expect_ptr_not_null(p, "nothrow new[](1000)");
    ::operator delete[](p, std::nothrow);
    // a new-expression with nothrow
    int *q = new (std::nothrow) int[16];
    expect_ptr_not_null(q, "new (nothrow) int[16]");
    delete[] q;
}
TEST_END

TEST_BEGIN(test_new_throws)
{
    bool thrown = false;
    try {
        void *p = ::operator new(vbig(SIZE_MAX - 4096));
        ::operator delete(p);
    } catch (const std::bad_alloc &) {
        thrown = true;
    }
    expect_true(thrown, "operator new(SIZE_MAX-4096) throws std::bad_alloc");
    thrown = false;
    try {
        void *p = ::operator new[](vbig((size_t)1 << 62));
        ::operator delete[](p);
    } catch (const std::bad_alloc &) {
        thrown = true;
    }
    expect_true(thrown, "operator new[](2^62) throws std::bad_alloc");
    thrown = false;
    try {
        void *p = ::operator new(vbig(SIZE_MAX / 2), std::align_val_t(256));
        ::operator delete(p, std::align_val_t(256));
    } catch (const std::bad_alloc &) {
        thrown = true;
    }
    expect_true(thrown, "aligned operator new(SIZE_MAX/2) throws std::bad_alloc");
    thrown = false;
    try {
        std::vector<char> v;
        v.reserve(vbig(PTRDIFF_MAX / 2));
    } catch (const std::bad_alloc &) {
        thrown = true;
    } catch (const std::length_error &) {
        thrown = true;
    }
    expect_true(thrown, "vector::reserve(huge) throws");
}
TEST_END

static int handler_calls;
static void new_handler_once()
{
    handler_calls++;
    std::set_new_handler(nullptr); // next failure throws
}

TEST_BEGIN(test_new_handler)
{
    handler_calls = 0;
    std::set_new_handler(new_handler_once);
    bool thrown = false;
    try {
        void *p = ::operator new(vbig(SIZE_MAX - 4096));
        ::operator delete(p);
    } catch (const std::bad_alloc &) {
        thrown = true;
    }
    expect_true(thrown, "bad_alloc after the handler removed itself");
    expect_int_eq(handler_calls, 1, "new handler called once");
    std::set_new_handler(nullptr);
}
TEST_END

TEST_BEGIN(test_containers)
{
    std::map<std::string, std::vector<int>> m;
    for (int i = 0; i < 20000; i++) {
        std::string k = "key-" + std::to_string(i % 3000) + std::string(i % 50, 'z');
        m[k].push_back(i);
    }
    size_t total = 0;
    for (auto &kv : m)
        total += kv.second.size();
    expect_zu_eq(total, 20000, "all values present");
    std::vector<std::unique_ptr<std::string>> v;
    for (int i = 0; i < 10000; i++)
        v.emplace_back(new std::string(static_cast<size_t>(i % 700), 'q'));
    for (int i = 0; i < 10000; i++)
        if (v[i]->size() != static_cast<size_t>(i % 700)) {
            expect_true(false, "string %d has size %zu", i, v[i]->size());
            break;
        }
    std::shared_ptr<Aligned256> sp = std::make_shared<Aligned256>();
    expect_zu_eq(reinterpret_cast<uintptr_t>(sp.get()) % 256, 0, "make_shared<Aligned256>");
}
TEST_END

int main()
{
    return RUN_TESTS(test_is_pagepool, test_new_delete, test_new_array, test_sized_delete,
                     test_aligned_new, test_nothrow_new, test_new_throws, test_new_handler,
                     test_containers);
}
