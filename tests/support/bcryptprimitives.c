/* For the Windows smoke tests under Debian 12's wine (8.0) only: Rust's standard library
 * imports ProcessPrng from bcryptprimitives.dll (Windows 10 and later), which that wine
 * lacks. This stand-in answers it from advapi32's RtlGenRandom (SystemFunction036). It is
 * placed next to the test build of gymops.exe by tests/run.sh and never shipped. */
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x7fffffff ? 0x7fffffff : (ULONG)length;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
