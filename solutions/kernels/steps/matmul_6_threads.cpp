// matmul ladder, step 6: the reference itself, solutions/kernels/matmul.cpp (included, not
// copied). To step 5 it adds the BLIS loop nest's other blocks (NC columns of B in L3, MC rows
// of A in L2), writing C on the first slice of k instead of zeroing it, and OpenMP threads: all
// pack B's block together, then each packs its own block of A and computes distinct tiles of C.
#include "../matmul.cpp"
