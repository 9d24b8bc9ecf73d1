// ethers.js v6 against a Jovay node, as a dApp would use it unchanged.
// Usage: node ethers_client.mjs <devnet.json> <token address>; prints one JSON object of results.
import { readFileSync } from "node:fs";
import { Contract, JsonRpcProvider, Wallet, WebSocketProvider } from "ethers";

const [devnetPath, tokenAddress] = process.argv.slice(2);
const devnet = JSON.parse(readFileSync(devnetPath, "utf8"));
const ABI = [
  "function transfer(address to, uint256 value) returns (bool)",
  "function balanceOf(address owner) view returns (uint256)",
  "event Transfer(address indexed from, address indexed to, uint256 value)",
];

function within(promise, ms, what) {
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms));
  return Promise.race([promise, timeout]);
}

function nextTransfer(contract) {
  return new Promise((resolve) => {
    contract.once("Transfer", (from, to, value, event) =>
      resolve({ from, to, value: value.toString(), tx: event.log.transactionHash }));
  });
}

async function main() {
  const http = new JsonRpcProvider(devnet.rpcUrl);
  http.pollingInterval = 200;
  const ws = new WebSocketProvider(devnet.rpcUrl.replace("http://", "ws://"));
  const sender = new Wallet(devnet.devAccounts[4].privateKey, http);
  const receiver = devnet.devAccounts[8].address;
  const out = {};
  out.chainId = (await http.getNetwork()).chainId.toString();
  out.wsChainId = (await ws.getNetwork()).chainId.toString();
  out.blockNumber = await http.getBlockNumber();

  // Balances at the receipt's block and the one before it: a "latest" read right after wait() can be
  // answered from ethers' own 250 ms request cache (cacheTimeout), which made this check flaky.
  const ethReceipt = await (await sender.sendTransaction({ to: receiver, value: 12345n })).wait();
  out.ethStatus = ethReceipt.status;
  const before = await http.getBalance(receiver, ethReceipt.blockNumber - 1);
  out.ethDelta = ((await http.getBalance(receiver, ethReceipt.blockNumber)) - before).toString();

  const token = new Contract(tokenAddress, ABI, sender);
  const wsToken = new Contract(tokenAddress, ABI, ws);
  const seenOverWs = nextTransfer(wsToken);
  const seenOverHttp = nextTransfer(token);
  await new Promise((r) => setTimeout(r, 500)); // let both listeners install their filters
  const tokenReceipt = await (await token.transfer(receiver, 7n)).wait();
  out.tokenStatus = tokenReceipt.status;
  out.tokenTx = tokenReceipt.hash;
  out.wsEvent = await within(seenOverWs, 20000, "Transfer over WebSocket");
  out.httpEvent = await within(seenOverHttp, 20000, "Transfer over HTTP");
  const found = await token.queryFilter(token.filters.Transfer(sender.address, receiver),
    tokenReceipt.blockNumber, tokenReceipt.blockNumber);
  out.queried = found.map((e) => ({ from: e.args[0], to: e.args[1], value: e.args[2].toString() }));
  out.receiverBalance = (await token.balanceOf(receiver)).toString();

  const outsider = Wallet.createRandom().address;
  try {
    await token.transfer.staticCall(outsider, 1n);
    out.refusedCall = null;
  } catch (error) {
    out.refusedCall = error.reason ?? null;
  }
  try {
    await token.transfer(outsider, 1n); // estimateGas refuses it before anything is sent
    out.refusedSend = null;
  } catch (error) {
    out.refusedSend = error.reason ?? null;
  }
  await token.removeAllListeners();
  await wsToken.removeAllListeners();
  await ws.destroy();
  http.destroy();
  console.log(JSON.stringify(out));
}

main().then(() => process.exit(0), (error) => {
  console.error(error);
  process.exit(1);
});
