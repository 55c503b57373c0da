// whisk.system/utils/cat: joins `lines` into one string, like the Unix cat;
// every other input field is dropped (openwhisk-catalog utils/cat).
function main(msg) {
    const lines = msg.lines || [];
    const result = {lines: lines, payload: lines.join('\n')};
    console.log('cat: returning ' + JSON.stringify(result));
    return result;
}
