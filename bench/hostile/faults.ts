export const run = async () => {}
export const soak = async (_ms: number) => {}
