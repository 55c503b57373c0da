// whisk.system/utils/split: splits `payload` into `lines` at `separator`
// (a string; default: line breaks) (openwhisk-catalog utils/split).
function main(msg) {
    const separator = msg.separator || /\r?\n/;
    const lines = String(msg.payload).split(separator);
    const result = {lines: lines, payload: msg.payload};
    console.log('split: returning ' + JSON.stringify(result));
    return result;
}
