/* placeholder until the real program lands */
int main(void) { return 1; }
