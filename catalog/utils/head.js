// whisk.system/utils/head: the first `num` (default 1) entries of `lines`
// (openwhisk-catalog utils/head).
function main(msg) {
    const lines = msg.lines || [];
    const num = msg.num || 1;
    const head = lines.slice(0, num);
    console.log('head: first ' + num + ' of ' + lines.length + ' lines');
    return {lines: head, num: num};
}
